"""What the dashboard shows: readers per list and the week's confirmations, unsubscribes and
bounces over the last ``WEEKS`` weeks, the last sends with their rates, and the warnings an
operator must act on.

Every chart figure is a grouped count over a bounded window, with the week computed in SQL
(``date_trunc`` on PostgreSQL, ``date(..., 'weekday 0', '-6 days')`` on SQLite: both give the
Monday, UTC), and the charts are cached ``CHART_CACHE_SECONDS`` per process. Readers per list
are dated by when each subscription was made and, for those that left, when they left; they
end at today's confirmed count.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Date, and_, cast, distinct, func, or_, select
from sqlalchemy.orm import Session

from service.bounces.mailbox import last_poll
from service.bounces.models import BounceEvent
from service.bounces.report import COMPLAINT_RATE_WARNING, WENT_OUT
from service.config import Config
from service.db import Database, utcnow
from service.ops.health import smtp_cache
from service.sending.models import Delivery, Send
from service.sending.states import DeliveryStatus as DS
from service.sending.states import SendStatus
from service.subscribers.models import MailingList, SubscriberEvent, Subscription

WEEKS = 26
LAST_SENDS = 8
MAX_LISTS = 8  # lines on the readers chart: the largest lists
CHART_CACHE_SECONDS = 60.0
# A mailbox not polled for this many poll intervals (plus a minute) is reported.
MAILBOX_LATE_INTERVALS = 3


@dataclass(frozen=True)
class SendRates:
    id: int
    issue_slug: str
    subject: str
    status: str
    started_at: dt.datetime | None
    went_out: int
    sent: int
    bounced: int  # readers with a hard or soft bounce
    complaints: int

    def rate(self, count: int) -> float:
        return count / self.went_out if self.went_out else 0.0

    @property
    def delivered_rate(self) -> float:
        return self.rate(self.sent)

    @property
    def bounce_rate(self) -> float:
        return self.rate(self.bounced)

    @property
    def complaint_rate(self) -> float:
        return self.rate(self.complaints)


@dataclass(frozen=True)
class Alert:
    kind: str  # complaints, paused, smtp, mailbox
    message: str
    send_id: int | None = None


def week_of(session: Session, column: Any) -> Any:
    """The Monday (UTC) of the week a timestamp falls in, as a date, in SQL."""
    if session.bind.dialect.name == "postgresql":
        return cast(func.date_trunc("week", func.timezone("UTC", column)), Date)
    return func.date(column, "weekday 0", "-6 days")


def _day(value: Any) -> str:
    return str(value)[:10]


def week_starts(today: dt.date, weeks: int = WEEKS) -> list[str]:
    monday = today - dt.timedelta(days=today.weekday())
    return [(monday - dt.timedelta(weeks=n)).isoformat() for n in range(weeks - 1, -1, -1)]


def _by_week(session: Session, column: Any, *conditions: Any, group: Any = None) -> dict:
    week = week_of(session, column)
    columns = [week] if group is None else [group, week]
    rows = session.execute(select(*columns, func.count()).where(*conditions)
                           .group_by(*columns)).all()
    if group is None:
        return {_day(w): n for w, n in rows}
    return {(g, _day(w)): n for g, w, n in rows}


def weekly_activity(session: Session, weeks: list[str], since: dt.datetime) -> dict:
    confirmed = _by_week(session, SubscriberEvent.at, SubscriberEvent.kind == "confirm",
                         SubscriberEvent.at >= since)
    left = _by_week(session, SubscriberEvent.at, SubscriberEvent.kind == "unsubscribe",
                    SubscriberEvent.at >= since)
    bounced = _by_week(session, BounceEvent.received_at, BounceEvent.kind.in_(("hard", "soft")),
                       BounceEvent.received_at >= since)
    return {
        "weeks": weeks,
        "confirmed": [confirmed.get(w, 0) for w in weeks],
        "unsubscribed": [left.get(w, 0) for w in weeks],
        "bounced": [bounced.get(w, 0) for w in weeks],
    }


def readers_per_list(session: Session, weeks: list[str], since: dt.datetime) -> dict:
    joined = or_(Subscription.status == "confirmed", Subscription.status == "unsubscribed")
    lists = session.execute(
        select(MailingList.id, MailingList.name, func.count(Subscription.id))
        .join(Subscription, and_(Subscription.list_id == MailingList.id,
                                 Subscription.status == "confirmed"), isouter=True)
        .group_by(MailingList.id, MailingList.name)
        .order_by(func.count(Subscription.id).desc(), MailingList.id).limit(MAX_LISTS)).all()
    ids = [row[0] for row in lists]
    if not ids:
        return {"weeks": weeks, "lists": []}
    # Readers when the window opens: joined before it, and still there then.
    baseline = dict(session.execute(
        select(Subscription.list_id, func.count()).where(
            Subscription.list_id.in_(ids), Subscription.created_at < since,
            or_(Subscription.status == "confirmed",
                and_(Subscription.status == "unsubscribed", Subscription.updated_at >= since)))
        .group_by(Subscription.list_id)).all())
    joined_by_week = _by_week(session, Subscription.created_at, Subscription.list_id.in_(ids),
                              joined, Subscription.created_at >= since, group=Subscription.list_id)
    left_by_week = _by_week(session, Subscription.updated_at, Subscription.list_id.in_(ids),
                            Subscription.status == "unsubscribed",
                            Subscription.updated_at >= since, group=Subscription.list_id)
    series = []
    for list_id, name, _count in lists:
        total, points = baseline.get(list_id, 0), []
        for week in weeks:
            total += joined_by_week.get((list_id, week), 0) - left_by_week.get((list_id, week), 0)
            points.append(total)
        series.append({"name": name, "readers": points})
    return {"weeks": weeks, "lists": series}


def chart_data(session: Session, today: dt.date | None = None) -> dict:
    weeks = week_starts(today or utcnow().date())
    since = dt.datetime.fromisoformat(weeks[0]).replace(tzinfo=dt.UTC)
    return {"readers": readers_per_list(session, weeks, since),
            "activity": weekly_activity(session, weeks, since)}


def last_sends(session: Session, limit: int = LAST_SENDS) -> list[SendRates]:
    sends = session.execute(
        select(Send.id, Send.issue_slug, Send.subject, Send.status, Send.started_at)
        .where(Send.status != SendStatus.DRAFT).order_by(Send.id.desc()).limit(limit)).all()
    ids = [row.id for row in sends]
    if not ids:
        return []
    counts: dict[tuple[int, str], int] = {
        (send_id, status): n for send_id, status, n in session.execute(
            select(Delivery.send_id, Delivery.status, func.count())
            .where(Delivery.send_id.in_(ids)).group_by(Delivery.send_id, Delivery.status))}
    readers: dict[tuple[int, str], int] = {
        (send_id, kind): n for send_id, kind, n in session.execute(
            select(BounceEvent.send_id, BounceEvent.kind, func.count(distinct(BounceEvent.subscriber_id)))
            .where(BounceEvent.send_id.in_(ids)).group_by(BounceEvent.send_id, BounceEvent.kind))}
    return [SendRates(
        id=row.id, issue_slug=row.issue_slug, subject=row.subject, status=row.status,
        started_at=row.started_at,
        went_out=sum(counts.get((row.id, state), 0) for state in WENT_OUT),
        sent=counts.get((row.id, DS.SENT), 0),
        bounced=readers.get((row.id, "hard"), 0) + readers.get((row.id, "soft"), 0),
        complaints=readers.get((row.id, "complaint"), 0),
    ) for row in sends]


def send_warnings(session: Session, sends: list[SendRates]) -> list[Alert]:
    found = [Alert("complaints", f"send #{s.id} ({s.issue_slug}): complaint rate"
                     f" {s.complaint_rate:.2%} is above {COMPLAINT_RATE_WARNING:.1%}", s.id)
             for s in sends if s.complaint_rate > COMPLAINT_RATE_WARNING]
    paused = session.execute(
        select(Send.id, Send.issue_slug, Send.status_reason)
        .where(Send.status == SendStatus.PAUSED).order_by(Send.id.desc()).limit(20)).all()
    found += [Alert("paused", f"send #{p.id} ({p.issue_slug}) is paused: "
                      f"{p.status_reason or 'paused by an operator'}", p.id) for p in paused]
    return found


def service_warnings(db: Database, config: Config, now: dt.datetime | None = None) -> list[Alert]:
    found = []
    smtp = smtp_cache.get(config.smtp_url)
    if not smtp.ok:
        found.append(Alert("smtp", f"the SMTP server is not answering ({smtp.detail}):"
                             " sends and confirmation mail wait until it does"))
    if config.bounce_mailbox_url:
        poll = last_poll(db, config)
        now = now or utcnow()
        late = dt.timedelta(seconds=MAILBOX_LATE_INTERVALS * config.bounce_poll_seconds + 60)
        if poll is None or poll.last_polled_at is None:
            found.append(Alert("mailbox", "the bounce mailbox has never been polled: is beat running?"))
        elif now - poll.last_polled_at > late:
            found.append(Alert("mailbox", "the bounce mailbox was last polled at"
                                 f" {poll.last_polled_at:%Y-%m-%d %H:%M} UTC: is beat running?"))
        elif poll.last_error and (poll.last_success_at is None or now - poll.last_success_at > late):
            found.append(Alert("mailbox", f"polling the bounce mailbox fails: {poll.last_error}"))
    return found


class ChartCache:
    """The charts and the last sends' rates, read at most every CHART_CACHE_SECONDS per
    process: a large send's rates count a million ledger rows."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.lock = threading.Lock()
        self.read_at = -CHART_CACHE_SECONDS
        self.data: dict = {}
        self.sends: list[SendRates] = []

    def get(self) -> tuple[dict, list[SendRates]]:
        with self.lock:
            if time.monotonic() - self.read_at >= CHART_CACHE_SECONDS:
                with self.db.session() as session:
                    self.data = chart_data(session)
                    self.sends = last_sends(session)
                self.read_at = time.monotonic()
            return self.data, self.sends

    def clear(self) -> None:
        with self.lock:
            self.read_at = -CHART_CACHE_SECONDS
