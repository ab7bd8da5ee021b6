"""A send's per-recipient log for the report page: filtered by state and by a piece of the
address, a page at a time by delivery id (keyset), so a send of a million readers is never
read whole."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.sending.models import Delivery
from service.sending.states import DeliveryStatus
from service.subscribers.models import Subscriber

LOG_PAGE = 50
MAX_QUERY = 320  # no address is longer


@dataclass(frozen=True)
class LogRow:
    delivery_id: int
    email: str
    status: str
    attempts: int
    last_reply: str
    sent_at: dt.datetime | None


@dataclass(frozen=True)
class LogPage:
    rows: list[LogRow]
    next_after: int | None  # the ``after`` of the next page; None on the last


def clean_filters(state: str | None, query: str | None) -> tuple[str, str]:
    """A known delivery state or ""; the address piece trimmed and lower-cased."""
    state = state if state in tuple(DeliveryStatus) else ""
    return state, " ".join((query or "").split()).lower()[:MAX_QUERY]


def delivery_log(session: Session, send_id: int, state: str = "", query: str = "",
                 after: int = 0, limit: int = LOG_PAGE) -> LogPage:
    """One page of the send's deliveries in id order, after delivery id ``after``."""
    statement = (
        select(Delivery.id, Subscriber.email, Delivery.status, Delivery.attempts,
               Delivery.last_reply, Delivery.sent_at)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.send_id == send_id, Delivery.id > after)
        .order_by(Delivery.id)
        .limit(limit + 1)
    )
    if state:
        statement = statement.where(Delivery.status == state)
    if query:
        statement = statement.where(Subscriber.email_key.contains(query, autoescape=True))
    rows = [LogRow(*row) for row in session.execute(statement)]
    more = len(rows) > limit
    rows = rows[:limit]
    return LogPage(rows, rows[-1].delivery_id if more else None)
