"""Per-recipient personalisation by plain string substitution.

A compiled email's HTML and text are split once, at compile time, into literal
pieces and named slots. Filling them for one recipient joins strings: nothing
here parses HTML or runs a template engine.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape

# The per-recipient values a compiled email has slots for.
SLOT_NAMES = ("unsubscribe_url", "preferences_url", "web_url", "action_url", "email", "name")
# Values that come from the subscriber (not from our own URL builders) are escaped in HTML.
UNTRUSTED_SLOTS = frozenset({"email", "name"})


def make_tokens(nonce: str) -> dict[str, str]:
    """Placeholder strings for the layout. The nonce keeps an editor's text from matching."""
    return {name: f"%%NL{nonce}_{name}%%" for name in SLOT_NAMES}


@dataclass(frozen=True, slots=True)
class SlotTemplate:
    """Literal pieces around named slots: pieces[0] slots[0] pieces[1] ... pieces[-1]."""

    pieces: tuple[str, ...]
    slots: tuple[str, ...]

    @classmethod
    def split(cls, text: str, tokens: Mapping[str, str]) -> SlotTemplate:
        by_token = {token: name for name, token in tokens.items()}
        pattern = re.compile("|".join(re.escape(token) for token in by_token))
        parts = pattern.split(text)
        return cls(tuple(parts), tuple(by_token[m] for m in pattern.findall(text)))

    def fill(self, values: Mapping[str, str]) -> str:
        pieces = self.pieces
        out = [pieces[0]]
        for index, name in enumerate(self.slots, 1):
            out.append(values[name])
            out.append(pieces[index])
        return "".join(out)

    def without_slots(self) -> str:
        return "".join(self.pieces)


def html_values(values: Mapping[str, str]) -> dict[str, str]:
    return {
        name: escape(value, quote=True) if name in UNTRUSTED_SLOTS else value
        for name, value in values.items()
    }


def recipient_values(
    *,
    email: str = "",
    name: str = "",
    unsubscribe_url: str = "",
    preferences_url: str = "",
    web_url: str = "",
    action_url: str = "",
) -> dict[str, str]:
    return {
        "action_url": action_url,
        "email": email,
        "name": name,
        "unsubscribe_url": unsubscribe_url,
        "preferences_url": preferences_url,
        "web_url": web_url,
    }
