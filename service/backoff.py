"""When to try a failed delivery again: a fixed list of waits, then give up.

Shared by the outbox of one-off mail and the outgoing webhooks, which differ only in their
waits."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    delays: tuple[dt.timedelta, ...]  # the wait before each retry, in order

    @property
    def max_attempts(self) -> int:
        return len(self.delays) + 1

    def next_attempt(self, attempts: int, now: dt.datetime) -> dt.datetime | None:
        """When to try again after ``attempts`` tries; None once they are spent."""
        if attempts >= self.max_attempts:
            return None
        return now + self.delays[max(attempts, 1) - 1]
