"""What the API does to readers, on top of the subscriber service: create (pending with the
confirmation email, or confirmed when consent was collected elsewhere), page through,
update, and show them with their subscriptions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.db import utcnow
from service.subscribers.addresses import clean_name, normalise_address
from service.subscribers.links import ALL_LISTS
from service.subscribers.models import MailingList, Subscriber, Subscription
from service.subscribers.services import SubscriberService, record, set_status


class ReaderConflict(Exception):
    """The change conflicts with what is stored (a known address, a suppressed reader)."""


class UnknownList(LookupError):
    pass


def lists_by_key(session: Session, keys: Sequence[str]) -> list[MailingList]:
    found = {m.slug: m for m in session.scalars(select(MailingList).where(MailingList.slug.in_(set(keys))))}
    missing = [key for key in keys if key not in found]
    if missing:
        raise UnknownList(", ".join(sorted(set(missing))))
    return [found[key] for key in dict.fromkeys(keys)]


def describe(session: Session, subscribers: Sequence[Subscriber]) -> list[dict[str, Any]]:
    """Readers as the API shows them; their subscriptions read in one query for the page."""
    ids = [s.id for s in subscribers]
    subscriptions: dict[int, list[dict[str, str]]] = {i: [] for i in ids}
    if ids:
        rows = session.execute(
            select(Subscription.subscriber_id, MailingList.slug, Subscription.status)
            .join(MailingList, MailingList.id == Subscription.list_id)
            .where(Subscription.subscriber_id.in_(ids)).order_by(MailingList.slug)
        )
        for subscriber_id, slug, status in rows:
            subscriptions[subscriber_id].append({"list": slug, "status": status})
    return [{
        "id": s.id, "email": s.email, "name": s.name, "status": s.status,
        "attributes": s.attributes or {}, "source": s.source, "created_at": s.created_at,
        "confirmed_at": s.confirmed_at, "lists": subscriptions[s.id],
    } for s in subscribers]


def page(session: Session, *, after: int | None, limit: int, list_key: str | None = None,
         status: str | None = None, email: str | None = None) -> list[Subscriber]:
    """Up to limit + 1 readers after id ``after``, in id order (the extra one says more follow)."""
    query = select(Subscriber).order_by(Subscriber.id).limit(limit + 1)
    if after is not None:
        query = query.where(Subscriber.id > after)
    if status:
        query = query.where(Subscriber.status == status)
    if email:
        query = query.where(Subscriber.email_key == email.strip().lower())
    if list_key:
        [mailing_list] = lists_by_key(session, [list_key])
        query = query.join(Subscription, Subscription.subscriber_id == Subscriber.id).where(
            Subscription.list_id == mailing_list.id)
    return list(session.scalars(query))


def create(session: Session, service: SubscriberService, data: dict[str, Any], *,
           source: str, ip: str | None) -> Subscriber:
    """A new reader on ``data["lists"]``. Raises InvalidAddress, UnknownList, ReaderConflict.

    pending: each double opt-in list waits for the reader's confirmation, and one
    confirmation email covers them all; a single opt-in list is joined at once.
    confirmed: every list is joined at once, the consent recorded as given to ``source``.
    """
    address = normalise_address(data["email"])
    lists = lists_by_key(session, data["lists"])
    if session.scalar(select(Subscriber.id).where(Subscriber.email_key == address.key)):
        raise ReaderConflict("a reader with this address exists already")
    now = utcnow()
    subscriber = Subscriber(
        email=address.email, email_key=address.key, name=clean_name(data.get("name", "")),
        attributes=data.get("attributes") or {}, status="pending", status_source=source,
        source=source, signup_ip=ip, signup_at=now,
    )
    try:
        with session.begin_nested():
            session.add(subscriber)
    except IntegrityError:  # the same address, added meanwhile by another request
        raise ReaderConflict("a reader with this address exists already") from None
    if data.get("status") == "confirmed":
        for mailing_list in lists:
            session.add(Subscription(subscriber_id=subscriber.id, list_id=mailing_list.id,
                                     status="confirmed", source=source))
            record(session, subscriber, "confirm", list_id=mailing_list.id, source=source, ip=ip)
        set_status(subscriber, "confirmed", source)
        subscriber.confirmed_at, subscriber.confirm_ip = now, ip
        session.flush()
        return subscriber
    double = [m for m in lists if m.double_opt_in]
    # All but the last double opt-in list wait as pending subscriptions, so the one email
    # that subscribe() sends for the last list confirms every one of them.
    for mailing_list in double[:-1]:
        session.add(Subscription(subscriber_id=subscriber.id, list_id=mailing_list.id,
                                 status="pending", source=source))
        record(session, subscriber, "signup", list_id=mailing_list.id, source=source, ip=ip)
    session.flush()
    for mailing_list in [m for m in lists if not m.double_opt_in] + double[-1:]:
        service.subscribe(session, email=address.email, mailing_list=mailing_list, ip=ip,
                          source=source)
    session.flush()
    return subscriber


def update(session: Session, service: SubscriberService, subscriber: Subscriber,
           data: dict[str, Any], *, source: str) -> None:
    """Change name, attributes or status. Raises SubscriptionRefused for a suppressed reader
    asked to confirm."""
    if "name" in data:
        cleaned = clean_name(data["name"])
        if cleaned != subscriber.name:
            subscriber.name = cleaned
            record(session, subscriber, "name", source=source)
    if "attributes" in data:
        subscriber.attributes = data["attributes"]
    if data.get("status") == "unsubscribed":
        service.unsubscribe(session, subscriber, ALL_LISTS, source=source)
    elif data.get("status") == "confirmed":
        service.confirm(session, subscriber, None)
    session.flush()
