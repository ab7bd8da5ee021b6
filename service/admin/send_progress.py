"""A send's live progress for the console: counts by state, the current rate and the ETA.

The progress fragment is polled every second by every open page, so its numbers come from
two small queries on the ledger's (send_id, status) index, cached per process for half a
second: however many pages watch, the database answers about twice a second per send.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.db import Database, utcnow
from service.sending.models import Delivery, Send
from service.sending.sends import SendError
from service.sending.states import ENDED_SENDS, UNFINISHED, SendStatus
from service.sending.states import DeliveryStatus as DS

# The rate is the messages sent over this last stretch of time.
RATE_WINDOW = dt.timedelta(seconds=60)
CACHE_SECONDS = 0.5
CACHE_SIZE = 256
# Polling intervals: live sends every second; paused and scheduled ones now and then.
POLL_LIVE, POLL_WAITING = "1s", "5s"


@dataclass(frozen=True)
class SendProgress:
    send_id: int
    issue_slug: str
    subject: str
    status: str
    status_reason: str
    list_ids: str
    total: int
    counts: dict[str, int]
    rate: float  # messages/s: over the last minute while sending, on average once ended
    scheduled_at: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    def count(self, state: str) -> int:
        return self.counts.get(state, 0)

    @property
    def remaining(self) -> int:
        return sum(self.counts.get(state, 0) for state in UNFINISHED)

    @property
    def done(self) -> int:
        return self.total - self.remaining

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.total if self.total else (
            100.0 if self.status == SendStatus.FINISHED else 0.0)

    @property
    def ended(self) -> bool:
        return self.status in ENDED_SENDS

    @property
    def eta_seconds(self) -> float | None:
        if self.status != SendStatus.SENDING or not self.remaining or self.rate <= 0:
            return None
        return self.remaining / self.rate

    @property
    def poll_every(self) -> str | None:
        """How often the page asks again; None once the send has ended."""
        if self.ended:
            return None
        return POLL_LIVE if self.status in (SendStatus.SENDING, SendStatus.DRAFT) else POLL_WAITING


def read_progress(session: Session, send_id: int, now: dt.datetime | None = None) -> SendProgress:
    """The numbers, straight from the database. SendError for an unknown send."""
    now = now or utcnow()
    # Named columns only: the row also holds the whole compiled email.
    row = session.execute(select(
        Send.id, Send.issue_slug, Send.subject, Send.status, Send.status_reason, Send.list_ids,
        Send.total, Send.scheduled_at, Send.started_at, Send.finished_at,
    ).where(Send.id == send_id)).one_or_none()
    if row is None:
        raise SendError(f"no send {send_id}")
    counts = dict(session.execute(
        select(Delivery.status, func.count()).where(Delivery.send_id == send_id)
        .group_by(Delivery.status)).all())
    return SendProgress(
        row.id, row.issue_slug, row.subject, row.status, row.status_reason, row.list_ids,
        row.total, counts, _rate(session, row, counts, now), row.scheduled_at, row.started_at,
        row.finished_at)


def _rate(session: Session, row, counts: dict[str, int], now: dt.datetime) -> float:  # type: ignore[no-untyped-def]
    if row.started_at is None:
        return 0.0
    if row.status != SendStatus.SENDING:
        # Ended or paused: the average over the whole send, from its first to its last message.
        last = row.finished_at or session.scalar(select(func.max(Delivery.sent_at)).where(
            Delivery.send_id == row.id, Delivery.status == DS.SENT))
        seconds = (last - row.started_at).total_seconds() if last else 0.0
        return counts.get(DS.SENT, 0) / seconds if seconds > 0 else 0.0
    since = max(now - RATE_WINDOW, row.started_at)
    seconds = (now - since).total_seconds()
    if seconds <= 0:
        return 0.0
    recent = session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.send_id == row.id, Delivery.status == DS.SENT, Delivery.sent_at >= since)) or 0
    return recent / seconds


class ProgressCache:
    """read_progress, kept for CACHE_SECONDS per send in this process."""

    def __init__(self, db: Database, ttl: float = CACHE_SECONDS) -> None:
        self.db = db
        self.ttl = ttl
        self._entries: dict[int, tuple[float, SendProgress]] = {}
        self._lock = threading.Lock()

    def get(self, send_id: int) -> SendProgress:
        now = time.monotonic()
        entry = self._entries.get(send_id)
        if entry is not None and entry[0] > now:
            return entry[1]
        with self.db.session() as session:
            found = read_progress(session, send_id)
        with self._lock:
            if len(self._entries) >= CACHE_SIZE:
                self._entries.clear()
            self._entries[send_id] = (time.monotonic() + self.ttl, found)
        return found

    def forget(self, send_id: int) -> None:
        """After a pause, resume, cancel or retry: the next look shows the change at once."""
        with self._lock:
            self._entries.pop(send_id, None)
