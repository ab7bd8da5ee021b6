"""A send's live progress for the console: counts by state, the current rate and the ETA.

The progress fragment is polled every second by every open page, so its numbers come from
one aggregate on the ledger's (send_id, status) index, cached per process for half a second,
and the rate from a count of the last minute's sent rows, cached for five: however many
pages watch, the database answers about twice a second per send and process.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, replace

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.db import Database, utcnow
from service.sending.models import Delivery, Send
from service.sending.sends import SendError
from service.sending.states import ENDED_SENDS, UNFINISHED, SendStatus
from service.sending.states import DeliveryStatus as DS

log = logging.getLogger(__name__)
# The rate is the messages sent over this last stretch of time.
RATE_WINDOW = dt.timedelta(seconds=60)
CACHE_SECONDS = 0.5
RATE_SECONDS = 5.0
STALE_SECONDS = 10.0
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
    def eta_text(self) -> str:
        seconds = self.eta_seconds
        if seconds is None:
            return "—"
        whole = round(seconds)
        if whole >= 3600:
            return f"{whole // 3600} h {whole % 3600 // 60} min"
        return f"{whole // 60} min {whole % 60} s" if whole >= 60 else f"{whole} s"

    @property
    def poll_every(self) -> str | None:
        """How often the page asks again; None once the send has ended."""
        if self.ended:
            return None
        return POLL_LIVE if self.status in (SendStatus.SENDING, SendStatus.DRAFT) else POLL_WAITING


def read_progress(session: Session, send_id: int, now: dt.datetime | None = None) -> SendProgress:
    """The numbers, straight from the database. SendError for an unknown send."""
    found = read_counts(session, send_id)
    return replace(found, rate=measure_rate(session, found, now or utcnow()))


def read_counts(session: Session, send_id: int) -> SendProgress:
    """The send and its deliveries by state, without the rate (0)."""
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
        row.total, counts, 0.0, row.scheduled_at, row.started_at, row.finished_at)


def measure_rate(session: Session, found: SendProgress, now: dt.datetime) -> float:
    """Messages/s: over the last RATE_WINDOW while sending, from the deliveries' sent_at;
    otherwise the average from the first message to the last."""
    if found.started_at is None:
        return 0.0
    if found.status != SendStatus.SENDING:
        last = found.finished_at or session.scalar(select(func.max(Delivery.sent_at)).where(
            Delivery.send_id == found.send_id, Delivery.status == DS.SENT))
        seconds = (last - found.started_at).total_seconds() if last else 0.0
        return found.count(DS.SENT) / seconds if seconds > 0 else 0.0
    since = max(now - RATE_WINDOW, found.started_at)
    seconds = (now - since).total_seconds()
    if seconds <= 0:
        return 0.0
    recent = session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.send_id == found.send_id, Delivery.status == DS.SENT,
        Delivery.sent_at >= since)) or 0
    return recent / seconds


class ProgressCache:
    """read_progress, kept per send in this process: the counts for CACHE_SECONDS, and the
    rate (a minute's average that moves slowly and costs a scan of the send's sent rows) for
    RATE_SECONDS.

    Figures past their time but younger than STALE_SECONDS are answered at once while one
    background thread fetches new ones, so no poll waits for the aggregate, whose cost grows
    with the size of the send (tens of milliseconds at 100,000 deliveries)."""

    def __init__(self, db: Database, ttl: float = CACHE_SECONDS,
                 rate_ttl: float = RATE_SECONDS, stale: float = STALE_SECONDS) -> None:
        self.db = db
        self.ttl = ttl
        self.rate_ttl = rate_ttl
        self.stale = stale
        self._entries: dict[int, tuple[float, SendProgress]] = {}  # fresh until, figures
        self._rates: dict[int, tuple[float, str, float]] = {}  # until, status, rate
        self._refreshing: set[int] = set()
        self._generation = 0  # moved by forget: a refresh begun before it is not kept
        self._lock = threading.Lock()

    def get(self, send_id: int) -> SendProgress:
        """SendError for an unknown send."""
        now = time.monotonic()
        entry = self._entries.get(send_id)
        if entry is not None and entry[0] > now:
            return entry[1]
        if entry is not None and now - entry[0] < self.stale:
            self._refresh_in_background(send_id)
            return entry[1]
        return self._refresh(send_id)

    def forget(self, send_id: int) -> None:
        """After a pause, resume, cancel or retry: the next look shows the change at once."""
        with self._lock:
            self._generation += 1
            self._entries.pop(send_id, None)
            self._rates.pop(send_id, None)

    def _refresh_in_background(self, send_id: int) -> None:
        with self._lock:
            if send_id in self._refreshing:
                return
            self._refreshing.add(send_id)
        threading.Thread(target=self._refresh_quietly, args=(send_id,), daemon=True,
                         name=f"progress-{send_id}").start()

    def _refresh_quietly(self, send_id: int) -> None:
        try:
            self._refresh(send_id)
        except Exception:  # noqa: BLE001 - the next poll tries again, and says what failed
            log.warning("progress of send %s not refreshed", send_id, exc_info=True)
        finally:
            with self._lock:
                self._refreshing.discard(send_id)

    def _refresh(self, send_id: int) -> SendProgress:
        generation, now = self._generation, time.monotonic()
        with self.db.session() as session:
            found = read_counts(session, send_id)
            known = self._rates.get(send_id)
            measured = known is None or known[0] <= now or known[1] != found.status
            rate = measure_rate(session, found, utcnow()) if measured else known[2]  # type: ignore[index]
        found = replace(found, rate=rate)
        with self._lock:
            if generation == self._generation:
                if len(self._entries) >= CACHE_SIZE:
                    self._entries.clear()
                    self._rates.clear()
                self._entries[send_id] = (now + self.ttl, found)
                if measured:
                    self._rates[send_id] = (now + self.rate_ttl, found.status, rate)
        return found
