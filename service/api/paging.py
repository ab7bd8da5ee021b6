"""Opaque cursors for keyset paging: a page starts after the last id of the one before, so
every page costs the same index lookup, however deep."""

from __future__ import annotations

import base64
import binascii

from flask_smorest import abort

VERSION = "c1"


def encode_cursor(last_id: int) -> str:
    raw = f"{VERSION}:{last_id}".encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """The id a cursor continues after; 400 for text that is not one of ours."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        version, _, last = raw.partition(":")
        if version != VERSION or not last.isdigit() or len(last) > 18:
            raise ValueError(raw)
        return int(last)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        abort(400, message="not a cursor this API gave out",
              errors={"query": {"cursor": ["invalid cursor"]}})
    return None  # not reached: abort raises


def next_cursor(ids: list[int], limit: int) -> tuple[list[int], str | None]:
    """Given up to limit + 1 ids, the page's ids and the cursor of the next page (or None)."""
    if len(ids) > limit:
        return ids[:limit], encode_cursor(ids[limit - 1])
    return ids, None
