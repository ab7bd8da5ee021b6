"""Tolerant reading of raw mail: bytes to a message tree, parts and headers to text.

Bounces are written by every kind of software, and some of it is old, broken or truncated.
The stdlib parser with the ``compat32`` policy never refuses input (it records defects and
carries on), and it keeps 8-bit bytes as they came, so each part can be decoded with its own
declared charset here: a wrong or unknown charset falls back to UTF-8 and to the common CJK
and Western encodings, and the last resort replaces what cannot be read. Nothing in this
module raises on bad input.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import html
import re
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from email.policy import compat32
from weakref import WeakKeyDictionary

# Bounces quote the original; no reason to read more than this of any message.
MAX_INPUT_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 12  # MIME nesting levels walked; real bounces use three or four
MAX_TEXT_CHARS = 64 * 1024  # of each decoded text part

# Declared names that are better read by a superset codec (GB18030 covers GB2312 and GBK;
# cp932 and cp949 cover the vendor extensions that mail from Japan and Korea uses).
_CHARSET_ALIASES = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030",
    "euc-cn": "gb18030", "gb_2312-80": "gb18030", "chinese": "gb18030",
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932",
    "windows-31j": "cp932", "iso-2022-jp": "iso2022_jp_ext", "csiso2022jp": "iso2022_jp_ext",
    "euc-kr": "cp949", "ks_c_5601-1987": "cp949",
    "iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "us-ascii": "utf-8",
    "ascii": "utf-8", "unicode-1-1-utf-7": "utf-7", "utf8": "utf-8",
}
_ASCII_BYTES = bytes(range(128))
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(r"(\?=)\s+(=\?)")
_TAG = re.compile(r"<(/?)(\w+)[^>]*>|<!--.*?-->", re.S)
_BLOCK_TAGS = frozenset({"p", "br", "div", "tr", "li", "h1", "h2", "h3", "h4", "table", "pre"})
_INLINE_TAGS = frozenset({"a", "b", "i", "em", "strong", "span", "font", "u", "small", "big"})
_DROPPED = re.compile(r"<(style|script|head)\b.*?</\1\s*>", re.S | re.I)


def parse_bytes(raw: bytes) -> Message:
    """The message tree of ``raw``, after normalising CRLF and bare CR line endings to LF."""
    data = raw[:MAX_INPUT_BYTES]
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    data = data.lstrip(b"\n\t ").removeprefix(b"\xef\xbb\xbf")
    return message_from_bytes(data, policy=compat32)


def _codec(charset: str | None) -> str | None:
    if not charset:
        return None
    name = charset.strip().strip("\"'").lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):
        return None


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Text from ``data``: the declared charset if it fits, else a reasoned guess; never raises."""
    codec = _codec(charset)
    if codec:
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError, ValueError):
            pass
    if b"\x1b$" in data:  # ISO-2022-JP escape sequences: 7-bit, so it would pass as UTF-8
        try:
            return data.decode("iso2022_jp_ext")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Dense high bytes are CJK double-byte text; sparse ones are accented Western letters.
    sample = data[:4096]
    if len(sample.translate(None, _ASCII_BYTES)) * 3 > len(sample):
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError:
            pass
    # A declared legacy charset with a few bad bytes is still mostly right; mislabelled
    # "us-ascii" or "utf-8" 8-bit text is usually Windows Western.
    last = codec if codec and codec != "utf-8" else "cp1252"
    try:
        return data.decode(last, errors="replace")
    except (LookupError, ValueError):  # a codec that fails even when told to replace
        return data.decode("cp1252", errors="replace")


def _decode_word(charset: str, encoding: str, text: str) -> str:
    try:
        if encoding in "bB":
            data = base64.b64decode(text + "=" * (-len(text) % 4), validate=False)
        else:
            data = binascii.a2b_qp(text.encode("ascii", "replace"), header=True)
    except (binascii.Error, ValueError):
        return text
    return decode_bytes(data, charset.split("*", 1)[0])


def decode_header(value: object) -> str:
    """A header value as readable text: unfolded, RFC 2047 words and raw 8-bit bytes decoded."""
    if value is None:
        return ""
    text = str(value)
    if not text.isascii():  # raw 8-bit bytes, kept by the parser as surrogate escapes
        text = decode_bytes(text.encode("utf-8", "surrogateescape"))
    text = re.sub(r"\n[ \t]+", " ", text).replace("\n", " ")
    if "=?" in text:
        text = _BETWEEN_WORDS.sub(r"\1\2", text)
        text = _ENCODED_WORD.sub(lambda m: _decode_word(*m.groups()), text)
    return text.strip()


# Per-message lookups made once: the stdlib re-scans every header on each access, and
# classification asks the same message for the same headers many times.
_HEADER_INDEX: WeakKeyDictionary[Message, dict[str, list[str]]] = WeakKeyDictionary()
_CONTENT_TYPES: WeakKeyDictionary[Message, str] = WeakKeyDictionary()
_PARTS: WeakKeyDictionary[Message, tuple[Message, ...]] = WeakKeyDictionary()


def _index(message: Message) -> dict[str, list[str]]:
    index = _HEADER_INDEX.get(message)
    if index is None:
        index = {}
        for key, value in message.raw_items():
            index.setdefault(key.lower(), []).append(value)
        _HEADER_INDEX[message] = index
    return index


def header(message: Message, name: str) -> str:
    """The decoded first ``name`` header of ``message`` (``name`` lower case); '' if absent."""
    values = _index(message).get(name)
    return decode_header(values[0]) if values else ""


def headers(message: Message, name: str) -> list[str]:
    """Every decoded ``name`` header of ``message``, in order (``name`` lower case)."""
    return [decode_header(value) for value in _index(message).get(name, ())]


def has_header(message: Message, name: str) -> bool:
    return name in _index(message)


def content_type(part: Message) -> str:
    """The part's content type, lower case; text/plain when missing or malformed."""
    kind = _CONTENT_TYPES.get(part)
    if kind is None:
        try:
            kind = part.get_content_type()
        except Exception:  # noqa: BLE001 - a malformed Content-Type must not stop the walk
            kind = "text/plain"
        _CONTENT_TYPES[part] = kind
    return kind


def content_param(part: Message, name: str) -> str:
    try:
        value = part.get_param(name)
    except Exception:  # noqa: BLE001
        return ""
    if isinstance(value, tuple):  # RFC 2231 value: (charset, language, text)
        value = value[2]
    return str(value or "").strip()


ATTACHED_MESSAGE_TYPES = frozenset({"message/rfc822", "message/global"})


def walk(message: Message) -> list[Message]:
    """Every part, parents first, at most ``MAX_DEPTH`` levels deep (worked out once).

    An attached message (the returned original) is listed but not entered: its own parts
    belong to the original, and a bounce of a bounce must not be read twice.
    """
    below = _PARTS.get(message)
    if below is None:
        # Cached without the message itself: a value that referred to its own key would keep
        # the entry, and the whole parsed message, alive for ever.
        below = tuple(_walk(message, 0))[1:]
        _PARTS[message] = below
    return [message, *below]


def _walk(message: Message, depth: int) -> Iterator[Message]:
    yield message
    if depth >= MAX_DEPTH or (depth and content_type(message) in ATTACHED_MESSAGE_TYPES):
        return
    payload = message.get_payload()
    if isinstance(payload, list):
        for child in payload:
            if isinstance(child, Message):
                yield from _walk(child, depth + 1)


def part_bytes(part: Message) -> bytes:
    """The body of a leaf part, transfer encoding undone; b'' for containers or on failure."""
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001
        return b""
    return data if isinstance(data, bytes) else b""


def part_text(part: Message) -> str:
    """The body of a leaf part as text, in its declared charset or the best guess."""
    data = part_bytes(part)[: MAX_TEXT_CHARS * 2]
    text = decode_bytes(data, content_param(part, "charset"))[:MAX_TEXT_CHARS]
    if content_type(part) == "text/html":
        text = html_to_text(text)
    return text


def html_to_text(markup: str) -> str:
    """Rough text of HTML: tags dropped, block ends as line breaks, entities decoded."""
    markup = _DROPPED.sub(" ", markup)

    def replace(match: re.Match[str]) -> str:
        tag = (match.group(2) or "").lower()
        return "\n" if tag in _BLOCK_TAGS else "" if tag in _INLINE_TAGS else " "

    text = html.unescape(_TAG.sub(replace, markup))
    return "\n".join(line.strip() for line in text.splitlines())


def raw_text(part: Message) -> str:
    """The text of a part the parser split into sub-messages or left as a string.

    ``message/delivery-status`` is parsed into one header block per recipient, and other
    ``message/*`` types into a message whose headers are the report's first block; this
    puts such parts back together as text, so that one field parser reads them all.
    """
    payload = part.get_payload()
    if isinstance(payload, str):
        data = payload.encode("utf-8", "surrogateescape")
        encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
        if encoding in ("base64", "quoted-printable"):
            data = part_bytes(part)
        return decode_bytes(data, content_param(part, "charset") or "utf-8")[:MAX_TEXT_CHARS]
    blocks = []
    for child in payload if isinstance(payload, list) else ():
        if isinstance(child, Message):
            lines = [f"{key}: {decode_header(value)}" for key, value in child.raw_items()]
            inner = raw_text(child) if child.get_payload() else ""
            blocks.append("\n".join(lines) + ("\n\n" + inner if inner.strip() else ""))
    return "\n\n".join(blocks)[:MAX_TEXT_CHARS]
