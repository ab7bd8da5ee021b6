"""The bounce policy: what a recorded event does to its subscriber. Settings, not code.

- ``hard`` (the address is gone): suppress at once (status ``bounced``).
- ``soft``: suppress once NEWSLETTER_BOUNCE_SOFT_LIMIT soft bounces were received within
  NEWSLETTER_BOUNCE_SOFT_DAYS with no successful delivery in between. "Successful" is what the
  ledger says: a delivery that is still ``sent`` (a bounce turns it into ``bounced``). An
  operator's unsuppress starts the count afresh too.
- ``complaint``: leave every list at once and mark the address ``complained``, for good: a
  later unsuppress lifts the mark but never resubscribes anyone.
- ``ignore`` (an auto-reply, a delay notice, a delivery report): nothing.

Suppressed addresses get no further issue: a send's ledger takes confirmed subscribers only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.bounces.models import BounceEvent
from service.config import Config
from service.db import utcnow
from service.sending.models import Delivery
from service.sending.states import DeliveryStatus
from service.subscribers.models import (
    SUPPRESSED_STATUSES,
    Subscriber,
    SubscriberEvent,
    Subscription,
)
from service.subscribers.services import record, set_status

# Subscriber event kinds this module writes.
UNSUPPRESS = "unsuppress"


class NotSuppressed(ValueError):
    """unsuppress was asked for an address that is not suppressed."""


@dataclass(frozen=True)
class BouncePolicy:
    soft_limit: int = 3
    soft_days: int = 14

    @classmethod
    def from_config(cls, config: Config) -> BouncePolicy:
        return cls(soft_limit=config.bounce_soft_limit, soft_days=config.bounce_soft_days)


def apply_policy(session: Session, policy: BouncePolicy, subscriber: Subscriber,
                 event: BounceEvent, now: dt.datetime | None = None) -> str:
    """Act on one recorded event (already flushed). Answers what was done, for the event's
    ``action``: suppressed, counted, complained, none, already-suppressed."""
    now = now or utcnow()
    detail = f"{event.kind} {event.reason} {event.status}".strip()
    source = f"bounce:{event.source}"[:50]
    if event.kind == "complaint":
        if subscriber.status == "complained":
            return "already-suppressed"
        complain(session, subscriber, source, detail)
        return "complained"
    if event.kind not in ("hard", "soft"):
        return "none"
    if subscriber.status in SUPPRESSED_STATUSES:
        return "already-suppressed"
    if event.kind == "soft" and count_soft(session, policy, subscriber.id, now) < policy.soft_limit:
        return "counted"
    set_status(subscriber, "bounced", source)
    record(session, subscriber, "bounced", source=source, detail=detail)
    return "suppressed"


def count_soft(session: Session, policy: BouncePolicy, subscriber_id: int,
               now: dt.datetime) -> int:
    """Soft bounces within the window and since the last successful delivery or unsuppress."""
    since = now - dt.timedelta(days=policy.soft_days)
    last_sent = session.scalar(
        select(func.max(Delivery.sent_at)).where(
            Delivery.subscriber_id == subscriber_id, Delivery.status == DeliveryStatus.SENT)
    )
    last_lifted = session.scalar(
        select(func.max(SubscriberEvent.at)).where(
            SubscriberEvent.subscriber_id == subscriber_id, SubscriberEvent.kind == UNSUPPRESS)
    )
    for moment in (last_sent, last_lifted):
        if moment is not None and moment > since:
            since = moment
    return session.scalar(
        select(func.count()).select_from(BounceEvent).where(
            BounceEvent.subscriber_id == subscriber_id, BounceEvent.kind == "soft",
            BounceEvent.received_at > since)
    ) or 0


def complain(session: Session, subscriber: Subscriber, source: str, detail: str = "") -> None:
    """Leave every list and mark the address complained."""
    for subscription in session.scalars(
        select(Subscription).where(Subscription.subscriber_id == subscriber.id)
    ):
        if subscription.status != "unsubscribed":
            subscription.status, subscription.updated_at = "unsubscribed", utcnow()
            record(session, subscriber, "unsubscribe", list_id=subscription.list_id,
                   source="complaint")
    set_status(subscriber, "complained", source)
    record(session, subscriber, "complained", source=source, detail=detail)


def unsuppress(session: Session, subscriber: Subscriber, by: str, source: str = "cli") -> str:
    """Lift a bounce, complaint or block, recording who did it. Answers the old status.

    The address becomes confirmed again if it ever was (else pending); its subscriptions stay
    as they are, so a complainer is not put back on any list.
    """
    previous = subscriber.status
    if previous not in SUPPRESSED_STATUSES:
        raise NotSuppressed(f"{subscriber.email} is {previous}, not suppressed")
    set_status(subscriber, "confirmed" if subscriber.confirmed_at else "pending", UNSUPPRESS)
    record(session, subscriber, UNSUPPRESS, source=source, detail=f"by {by}; was {previous}")
    return previous
