"""A body's base64 transfer encoding, done once per send for its literal pieces.

A compiled body is literal pieces around a few per-recipient slots (links, the name). Encoding
each recipient's whole body spent most of a message's CPU on bytes that are the same for
everyone. Base64 maps every 3 input bytes to 4 characters independently, so a literal piece
can be encoded ahead of time for each of the three ways it can be aligned (0, 1 or 2 bytes
left over from what came before it): per recipient only the few bytes around each slot are
encoded.

Lines may be shorter than 76 characters where a piece meets a slot: RFC 2045 sets only the
upper bound, and decoders skip line breaks. Every line holds whole 4-character groups, so the
output decodes to exactly the filled body.
"""

from __future__ import annotations

from binascii import b2a_base64
from collections.abc import Mapping

from service.issues.personalise import SlotTemplate

LINE_BYTES = 57  # input bytes per 76-character line


def encode_lines(data: bytes) -> bytes:
    """Base64 in CRLF-terminated lines of at most 76 characters; b'' for no data."""
    if not data:
        return b""
    encoded = b2a_base64(data, newline=False)
    if len(encoded) <= 76:
        return encoded + b"\r\n"
    return b"\r\n".join([encoded[i:i + 76] for i in range(0, len(encoded), 76)]) + b"\r\n"


class _Piece:
    """One literal piece, ready for each alignment: its first bytes complete the group left
    open before it, the aligned middle is already encoded, and the rest stays open."""

    __slots__ = ("data", "ways")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.ways: list[tuple[bytes, bytes, bytes] | None] = []
        for open_bytes in range(3):
            need = (3 - open_bytes) % 3
            if len(data) < need:
                self.ways.append(None)  # too short to close the group: joins it whole
                continue
            end = need + (len(data) - need) // 3 * 3
            self.ways.append((data[:need], encode_lines(data[need:end]), data[end:]))


class Base64Template:
    """A SlotTemplate's base64 body: :meth:`render` costs the slots, not the body."""

    def __init__(self, template: SlotTemplate) -> None:
        self.pieces = [_Piece(piece.encode("utf-8")) for piece in template.pieces]
        self.slots = template.slots

    def render(self, values: Mapping[str, str]) -> bytes:
        out: list[bytes] = []
        open_bytes = b""  # fewer than 3 bytes not yet encoded
        pieces = self.pieces
        for index, piece in enumerate(pieces):
            if index:
                open_bytes = _add(out, open_bytes + values[self.slots[index - 1]].encode("utf-8"))
            way = piece.ways[len(open_bytes)]
            if way is None:
                open_bytes = _add(out, open_bytes + piece.data)
                continue
            head, middle, tail = way
            if open_bytes:
                out.append(b2a_base64(open_bytes + head, newline=False) + b"\r\n")
            out.append(middle)
            open_bytes = tail
        if open_bytes:
            out.append(b2a_base64(open_bytes, newline=False) + b"\r\n")
        return b"".join(out)


def _add(out: list[bytes], data: bytes) -> bytes:
    """Encode the whole groups of ``data`` into ``out``; give back the open bytes."""
    end = len(data) // 3 * 3
    if end:
        out.append(encode_lines(data[:end]))
    return data[end:]
