"""What an admin does to one reader: look at everything kept about them, edit, unsubscribe,
erase, un-suppress. Each change is written to the reader's event log (an erasure, which
takes that log with it, to the application log by id only)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.bounces.models import BounceEvent
from service.bounces.policy import unsuppress
from service.sending.models import Delivery, Send
from service.subscribers.addresses import clean_name, normalise_address
from service.subscribers.models import MailingList, Subscriber, SubscriberEvent, Subscription
from service.subscribers.services import SubscriberService, record

audit = logging.getLogger("service.admin.audit")

DELIVERIES_SHOWN = 20
BOUNCES_SHOWN = 20
EVENTS_SHOWN = 50
SOURCE = "admin"


class ReaderEditError(ValueError):
    """The edit cannot be made; the message says why, for the page."""


@dataclass
class ReaderDetail:
    subscriber: Subscriber
    subscriptions: list[tuple[Subscription, MailingList]]
    deliveries: list[tuple[Delivery, str]]  # with the issue's slug
    deliveries_before: int | None  # the cursor of the next (older) page of deliveries
    bounces: list[BounceEvent]
    events: list[SubscriberEvent]


def reader_detail(session: Session, subscriber: Subscriber,
                  deliveries_before: int | None = None) -> ReaderDetail:
    subscriptions = list(session.execute(
        select(Subscription, MailingList).join(MailingList, MailingList.id == Subscription.list_id)
        .where(Subscription.subscriber_id == subscriber.id).order_by(MailingList.slug)
    ).all())
    query = (
        select(Delivery, Send.issue_slug).join(Send, Send.id == Delivery.send_id)
        .where(Delivery.subscriber_id == subscriber.id)
        .order_by(Delivery.id.desc()).limit(DELIVERIES_SHOWN + 1)
    )
    if deliveries_before is not None:
        query = query.where(Delivery.id < deliveries_before)
    deliveries = list(session.execute(query).all())
    older = deliveries[DELIVERIES_SHOWN - 1][0].id if len(deliveries) > DELIVERIES_SHOWN else None
    bounces = list(session.scalars(
        select(BounceEvent).where(BounceEvent.subscriber_id == subscriber.id)
        .order_by(BounceEvent.received_at.desc()).limit(BOUNCES_SHOWN)
    ))
    events = list(session.scalars(
        select(SubscriberEvent).where(SubscriberEvent.subscriber_id == subscriber.id)
        .order_by(SubscriberEvent.id.desc()).limit(EVENTS_SHOWN)
    ))
    return ReaderDetail(subscriber, subscriptions, deliveries[:DELIVERIES_SHOWN], older,
                        bounces, events)


def edit_reader(session: Session, subscriber: Subscriber, *, email: str, name: str, by: str) -> None:
    """Change the address and the name. Raises ReaderEditError for a malformed address or
    one another reader has; nothing changes then."""
    address = normalise_address(email)  # InvalidAddress is a ReaderEditError's cousin: a ValueError
    cleaned = clean_name(name)
    changes = []
    if address.key != subscriber.email_key:
        taken = session.scalars(
            select(Subscriber.id).where(Subscriber.email_key == address.key)
        ).first()
        if taken is not None:
            raise ReaderEditError(f"another reader (#{taken}) has the address {address.email}")
        changes.append("email")
    elif address.email != subscriber.email:
        changes.append("email")
    if cleaned != subscriber.name:
        changes.append("name")
    if not changes:
        return
    subscriber.email, subscriber.email_key, subscriber.name = address.email, address.key, cleaned
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # taken in the meantime
        raise ReaderEditError(f"another reader has the address {address.email}") from None
    record(session, subscriber, "edit", source=SOURCE, detail=f"by {by}: {', '.join(changes)}")
    audit.info("admin %s edited reader %s (%s)", by, subscriber.id, ", ".join(changes))


def unsubscribe_reader(service: SubscriberService, session: Session, subscriber: Subscriber,
                       list_id: int, by: str) -> None:
    service.unsubscribe(session, subscriber, list_id, source=SOURCE)
    audit.info("admin %s unsubscribed reader %s from list %s", by, subscriber.id, list_id)


def erase_reader(service: SubscriberService, session: Session, subscriber: Subscriber, by: str) -> None:
    """The same erasure as the reader's own "delete my data" button."""
    subscriber_id = subscriber.id
    service.delete(session, subscriber)
    audit.info("admin %s erased reader %s (GDPR)", by, subscriber_id)


def unsuppress_reader(session: Session, subscriber: Subscriber, by: str) -> str:
    """Raises NotSuppressed when there is nothing to lift."""
    previous = unsuppress(session, subscriber, by, source=SOURCE)
    audit.info("admin %s lifted %s from reader %s", by, previous, subscriber.id)
    return previous
