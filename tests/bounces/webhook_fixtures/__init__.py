"""Provider payloads for the webhook tests, a replay store that records its calls, and
Hypothesis strategies for JSON that is almost, or not at all, what a provider sends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from service.bounces.webhooks import MemoryReplayStore

FIXTURES = Path(__file__).parent

# Any JSON value, small: stands in for a field a provider sent with the wrong shape.
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    """The expected shape, or any JSON at all."""
    return strategy | JSON


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


class SpyReplayStore(MemoryReplayStore):
    """A memory store that remembers every key it was asked about, to show a rejected
    request left no state behind."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, int]] = []

    def seen(self, key: str, ttl_seconds: int) -> bool:
        self.calls.append((key, ttl_seconds))
        return super().seen(key, ttl_seconds)
