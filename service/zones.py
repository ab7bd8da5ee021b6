"""Time zones named in settings, forms and front matter."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def known_zone(name: str) -> ZoneInfo | None:
    """The zone ``name`` names on this machine, or None: unknown, empty, or not a zone name at
    all (a path, a NUL: ``ZoneInfo`` refuses those with ValueError)."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
