"""What a batch learned about its rows, written in a handful of statements per flush.

Every update matches on the batch's claim token, and a flush tells the batch whether it still
held all the rows it wrote: if not, its lease was taken over and it must stop.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from service.config import Config
from service.db import utcnow
from service.mail.transport import Outcome, Reply
from service.sending.leases import Claimed, owned
from service.sending.models import Delivery
from service.sending.states import DeliveryStatus as DS


@dataclass
class Tally:
    claimed: int = 0
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    skipped: int = 0
    server_errors: int = 0


@dataclass
class Results:
    """Outcomes waiting to be written."""

    config: Config
    token: str
    tally: Tally = field(default_factory=Tally)
    sent: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    retry: list[dict] = field(default_factory=list)  # deferred or failed, one row each

    def __len__(self) -> int:
        return len(self.sent) + len(self.skipped) + len(self.retry)

    def skip(self, row: Claimed) -> None:
        self.skipped.append(row.delivery_id)
        self.tally.skipped += 1

    def add(self, row: Claimed, reply: Reply, server_errors: int = 0) -> None:
        """Record a reply. A server-level reply (``Outcome.SERVER``) is never the reader's:
        the row waits for another try with the send's backoff, its attempts untouched."""
        if reply.outcome is Outcome.SENT:
            self.sent.append(row.delivery_id)
            self.tally.sent += 1
            return
        now, config = utcnow(), self.config
        attempts, since = row.attempts, row.deferred_since
        if reply.outcome is Outcome.SERVER:
            status, wait = DS.DEFERRED, self._backoff(max(server_errors, 1))
            self.tally.server_errors += 1
        elif reply.outcome is Outcome.FAILED:
            status, wait, attempts = DS.FAILED, None, attempts + 1
        else:
            attempts, since = attempts + 1, since or now
            window = dt.timedelta(seconds=config.send_retry_window_seconds)
            if attempts >= config.send_max_attempts or now - since >= window:
                status, wait = DS.FAILED, None
            else:
                status, wait = DS.DEFERRED, self._backoff(attempts)
        if status == DS.FAILED:
            self.tally.failed += 1
        else:
            self.tally.deferred += 1
        self.retry.append({
            "b_id": row.delivery_id, "b_status": status, "b_attempts": attempts,
            "b_next": now + wait if wait is not None else None, "b_since": since,
            "b_reply": f"{reply.stage}: {reply}"[:1000],
        })

    def _backoff(self, attempt: int) -> dt.timedelta:
        config = self.config
        seconds = min(config.send_retry_base_seconds * 2 ** max(attempt - 1, 0),
                      config.send_retry_max_seconds)
        return dt.timedelta(seconds=seconds)

    def flush(self, session: Session) -> bool:
        """Write everything; False when some row was no longer this batch's (lease lost)."""
        expected = len(self)
        written = 0
        if self.sent:
            written += session.execute(
                update(Delivery).where(owned(self.sent, self.token))
                .values(status=DS.SENT, sent_at=utcnow(), attempts=Delivery.attempts + 1,
                        last_reply="250 ok", lease_until=None, claim_token=None)
                .execution_options(synchronize_session=False)
            ).rowcount
        if self.skipped:
            written += session.execute(
                update(Delivery).where(owned(self.skipped, self.token))
                .values(status=DS.SKIPPED, last_reply="not subscribed any more",
                        lease_until=None, claim_token=None)
                .execution_options(synchronize_session=False)
            ).rowcount
        if self.retry:
            table = Delivery.__table__
            written += session.connection().execute(
                update(table)
                .where(table.c.id == bindparam("b_id"), table.c.claim_token == self.token,
                       table.c.status == DS.SENDING)
                .values(status=bindparam("b_status"), attempts=bindparam("b_attempts"),
                        next_attempt_at=bindparam("b_next"), deferred_since=bindparam("b_since"),
                        last_reply=bindparam("b_reply"), lease_until=None, claim_token=None),
                self.retry,
            ).rowcount
        return written == expected

    def clear(self) -> None:
        """Forget what was written: call only once its transaction has committed, so that a
        failed commit leaves the results for the next try (the batch's finally)."""
        self.sent, self.skipped, self.retry = [], [], []
