"""Cursors for keyset paging: a page starts after the last id of the one before, so every
page costs the same index lookup, however deep.

A cursor is ``v1.`` and 11 URL-safe base64 characters (a 64-bit position). Clients treat it
as opaque; the OpenAPI document gives its exact pattern, and every string that matches the
pattern is a position (one a client made up just starts somewhere else: a cursor grants
nothing, it only says where to continue).
"""

from __future__ import annotations

import base64

PREFIX = "v1."
PATTERN = r"^v1\.[A-Za-z0-9_-]{11}$"
MAX_POSITION = 2**31 - 1  # the id columns are 32-bit integers


def encode_cursor(last_id: int) -> str:
    packed = base64.urlsafe_b64encode(last_id.to_bytes(8, "big")).decode("ascii")
    return PREFIX + packed.rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """The id a cursor continues after (the schema has checked its pattern)."""
    if cursor is None:
        return None
    raw = base64.urlsafe_b64decode(cursor[len(PREFIX):] + "=")
    return min(int.from_bytes(raw, "big"), MAX_POSITION)


def next_cursor(ids: list[int], limit: int) -> tuple[list[int], str | None]:
    """Given up to limit + 1 ids, the page's ids and the cursor of the next page (or None)."""
    if len(ids) > limit:
        return ids[:limit], encode_cursor(ids[limit - 1])
    return ids, None
