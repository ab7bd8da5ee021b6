"""Subscribe, confirm, unsubscribe, preferences, export and delete.

Each function works inside the caller's transaction and records what it changed in the
subscriber's event log. Mail it causes goes to the outbox in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.config import Config
from service.mail import outbox
from service.mail.message import smtp_address
from service.subscribers.addresses import clean_name, normalise_address
from service.subscribers.emails import TransactionalEmails
from service.subscribers.links import ALL_LISTS, LinkBuilder
from service.subscribers.models import (
    SUPPRESSED_STATUSES,
    MailingList,
    SignupRequest,
    Subscriber,
    SubscriberEvent,
    Subscription,
    utcnow,
)
from service.webhooks import events as webhooks

# At most one confirmation email per address in this window, however often it is requested.
CONFIRMATION_INTERVAL = dt.timedelta(hours=24)


class SubscriptionRefused(Exception):
    """The subscriber may not be changed this way (for example, a blocklisted address)."""


def record(session: Session, subscriber: Subscriber, kind: str, *, list_id: int | None = None,
           source: str = "", ip: str | None = None, detail: str = "") -> None:
    session.add(
        SubscriberEvent(
            subscriber_id=subscriber.id, list_id=list_id, kind=kind, source=source, ip=ip, detail=detail
        )
    )
    webhooks.record_subscriber_event(session, kind, subscriber, list_id=list_id, source=source)


def set_status(subscriber: Subscriber, status: str, source: str) -> None:
    if subscriber.status != status:
        subscriber.status = status
        subscriber.status_changed_at = utcnow()
        subscriber.status_source = source


def find_subscriber(session: Session, email: str) -> Subscriber | None:
    key = normalise_address(email).key
    return session.scalars(select(Subscriber).where(Subscriber.email_key == key)).one_or_none()


@dataclass
class SubscriberService:
    config: Config
    emails: TransactionalEmails
    links: LinkBuilder

    # -------------------------------------------------------------- signup

    def subscribe(
        self,
        session: Session,
        *,
        email: str,
        mailing_list: MailingList,
        name: str = "",
        ip: str | None = None,
        source: str = "web",
        attributes: dict[str, Any] | None = None,
    ) -> bool:
        """Sign an address up to a list. Returns whether a confirmation email was queued.

        Raises InvalidAddress for a bad address. Every other case looks the same to the
        caller's visitor: no answer reveals whether the address was already known. The name
        and attributes are kept for a new subscriber only: a signup never changes a known
        reader's data (anyone can type anyone's address); the preferences link does.
        """
        address = normalise_address(email)
        subscriber, created = self._get_or_create(session, address.email, address.key, source, ip)
        if subscriber.status in SUPPRESSED_STATUSES:
            return False
        if created:
            subscriber.name = clean_name(name)
            subscriber.attributes = attributes or {}
        subscription = self._subscription(session, subscriber, mailing_list, source)
        if subscription.status == "confirmed" and subscriber.status == "confirmed":
            return False
        if not mailing_list.double_opt_in:
            self._confirm_subscription(session, subscriber, subscription, source, ip)
            set_status(subscriber, "confirmed", source)
            return False
        if subscription.status != "pending":
            subscription.status, subscription.updated_at = "pending", utcnow()
        record(session, subscriber, "signup", list_id=mailing_list.id, source=source, ip=ip)
        if not self._claim_mail_slot(session, subscriber):
            return False
        # The link confirms the lists pending now, and no list that is added later.
        session.flush()
        pending = self._pending_list_ids(session, subscriber)
        message = self.emails.build(
            "confirm", mailing_list, subscriber, self.links.confirm_url(subscriber, pending)
        )
        outbox.enqueue(session, "confirm", self.config.mail_from, smtp_address(subscriber.email), message)
        return True

    @staticmethod
    def _pending_list_ids(session: Session, subscriber: Subscriber) -> list[int]:
        return list(
            session.scalars(
                select(Subscription.list_id).where(
                    Subscription.subscriber_id == subscriber.id, Subscription.status == "pending"
                )
            )
        )

    def _get_or_create(self, session: Session, email: str, key: str, source: str,
                       ip: str | None) -> tuple[Subscriber, bool]:
        query = select(Subscriber).where(Subscriber.email_key == key)
        subscriber = session.scalars(query).one_or_none()
        if subscriber is not None:
            return subscriber, False
        try:
            with session.begin_nested():
                subscriber = Subscriber(
                    email=email, email_key=key, status="pending", status_source=source,
                    source=source, signup_ip=ip, signup_at=utcnow(), attributes={},
                )
                session.add(subscriber)
        except IntegrityError:  # a concurrent signup of the same address won the insert
            return session.scalars(query).one(), False
        return subscriber, True

    def _subscription(self, session: Session, subscriber: Subscriber, mailing_list: MailingList,
                      source: str) -> Subscription:
        query = select(Subscription).where(
            Subscription.subscriber_id == subscriber.id, Subscription.list_id == mailing_list.id
        )
        subscription = session.scalars(query).one_or_none()
        if subscription is None:
            try:
                with session.begin_nested():
                    subscription = Subscription(
                        subscriber_id=subscriber.id, list_id=mailing_list.id, status="pending",
                        source=source,
                    )
                    session.add(subscription)
            except IntegrityError:
                subscription = session.scalars(query).one()
        return subscription

    def _claim_mail_slot(self, session: Session, subscriber: Subscriber) -> bool:
        """Atomically take the right to send a mail that someone else may have asked for (a
        confirmation, a fresh preferences link): one per address per interval."""
        now = utcnow()
        result = session.execute(
            update(Subscriber)
            .where(
                Subscriber.id == subscriber.id,
                or_(
                    Subscriber.confirmation_sent_at.is_(None),
                    Subscriber.confirmation_sent_at < now - CONFIRMATION_INTERVAL,
                ),
            )
            .values(confirmation_sent_at=now)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1

    # -------------------------------------------------------------- confirm

    def confirm(self, session: Session, subscriber: Subscriber, ip: str | None,
                list_ids: Collection[int] | None = None) -> list[MailingList]:
        """Confirm the address and its pending subscriptions to ``list_ids`` (the lists its
        confirmation link names; None: every pending one). Idempotent.

        A suppressed address (bounced, complained, blocklisted) is refused: a confirmation
        link must not undo what the mail system or an operator decided.
        """
        if subscriber.status in SUPPRESSED_STATUSES:
            raise SubscriptionRefused(subscriber.status)
        pending = self.pending_subscriptions(session, subscriber, list_ids)
        for subscription in pending:
            self._confirm_subscription(session, subscriber, subscription, "confirm", ip)
        if pending and subscriber.status != "confirmed":
            set_status(subscriber, "confirmed", "confirm")
            subscriber.confirm_ip, subscriber.confirmed_at = ip, utcnow()
        lists = [subscription.mailing_list for subscription in pending]
        if lists and self.config.welcome_email:
            message = self.emails.build("welcome", lists[0], subscriber, f"{self.config.base_url}/archive")
            outbox.enqueue(session, "welcome", self.config.mail_from, smtp_address(subscriber.email), message)
        return lists

    @staticmethod
    def pending_subscriptions(session: Session, subscriber: Subscriber,
                              list_ids: Collection[int] | None = None) -> list[Subscription]:
        """The subscriptions a confirmation link would confirm."""
        query = select(Subscription).where(
            Subscription.subscriber_id == subscriber.id, Subscription.status == "pending"
        )
        if list_ids is not None:
            query = query.where(Subscription.list_id.in_(list(list_ids)))
        return list(session.scalars(query.order_by(Subscription.list_id)))

    def _confirm_subscription(self, session: Session, subscriber: Subscriber,
                              subscription: Subscription, source: str, ip: str | None) -> None:
        subscription.status, subscription.updated_at = "confirmed", utcnow()
        if subscriber.confirmed_at is None:
            subscriber.confirm_ip, subscriber.confirmed_at = ip, utcnow()
        record(session, subscriber, "confirm", list_id=subscription.list_id, source=source, ip=ip)

    # -------------------------------------------------------------- leave

    def unsubscribe(self, session: Session, subscriber: Subscriber, list_id: int, *,
                    source: str = "link", ip: str | None = None) -> None:
        """Leave one list, or every list with ALL_LISTS. Idempotent."""
        query = select(Subscription).where(Subscription.subscriber_id == subscriber.id)
        if list_id != ALL_LISTS:
            query = query.where(Subscription.list_id == list_id)
        for subscription in session.scalars(query):
            if subscription.status != "unsubscribed":
                subscription.status, subscription.updated_at = "unsubscribed", utcnow()
                record(session, subscriber, "unsubscribe", list_id=subscription.list_id,
                       source=source, ip=ip)
        if list_id == ALL_LISTS and subscriber.status not in SUPPRESSED_STATUSES:
            set_status(subscriber, "unsubscribed", source)

    # -------------------------------------------------------------- preferences

    def update_preferences(self, session: Session, subscriber: Subscriber, *, list_ids: set[int],
                           name: str, ip: str | None = None) -> None:
        """Set the lists and name a subscriber chose. The preferences link proves the mailbox,
        so chosen lists are confirmed at once."""
        if subscriber.status in SUPPRESSED_STATUSES and list_ids:
            raise SubscriptionRefused(subscriber.status)
        cleaned = clean_name(name)
        if cleaned != subscriber.name:
            subscriber.name = cleaned
            record(session, subscriber, "name", source="preferences", ip=ip)
        current = {s.list_id: s for s in subscriber.subscriptions}
        for mailing_list in session.scalars(select(MailingList)):
            subscription = current.get(mailing_list.id)
            if mailing_list.id in list_ids:
                if subscription is None:
                    subscription = self._subscription(session, subscriber, mailing_list, "preferences")
                if subscription.status != "confirmed":
                    self._confirm_subscription(session, subscriber, subscription, "preferences", ip)
            elif subscription is not None and subscription.status != "unsubscribed":
                self.unsubscribe(session, subscriber, mailing_list.id, source="preferences", ip=ip)
        if list_ids and subscriber.status != "confirmed":
            set_status(subscriber, "confirmed", "preferences")

    def export_data(self, session: Session, subscriber: Subscriber) -> dict[str, Any]:
        """Everything kept about a subscriber, for the 'download my data' button."""

        def when(value: dt.datetime | None) -> str | None:
            return value.isoformat() if value else None

        events = session.scalars(
            select(SubscriberEvent)
            .where(SubscriberEvent.subscriber_id == subscriber.id)
            .order_by(SubscriberEvent.id)
        )
        return {
            "email": subscriber.email,
            "name": subscriber.name,
            "attributes": subscriber.attributes,
            "status": subscriber.status,
            "created_at": when(subscriber.created_at),
            "consent": {
                "source": subscriber.source,
                "signup_ip": subscriber.signup_ip,
                "signup_at": when(subscriber.signup_at),
                "confirm_ip": subscriber.confirm_ip,
                "confirmed_at": when(subscriber.confirmed_at),
            },
            "subscriptions": [
                {
                    "list": s.mailing_list.slug,
                    "status": s.status,
                    "since": when(s.created_at),
                    "updated_at": when(s.updated_at),
                }
                for s in subscriber.subscriptions
            ],
            "events": [
                {"kind": e.kind, "list_id": e.list_id, "source": e.source, "ip": e.ip, "at": when(e.at)}
                for e in events
            ],
        }

    def delete(self, session: Session, subscriber: Subscriber) -> None:
        """Remove the subscriber, their subscriptions and their history entirely, with every
        outbox message to the address and any signup of it still queued."""
        for address in {subscriber.email, smtp_address(subscriber.email)}:
            outbox.forget_address(session, address)
        session.execute(delete(SignupRequest).where(SignupRequest.email_key == subscriber.email_key))
        session.delete(subscriber)

    # -------------------------------------------------------------- a fresh link

    def send_preferences_link(self, session: Session, subscriber: Subscriber) -> bool:
        """Mail a fresh preferences link to the subscriber's own address (an expired link asked
        for it). At most one such mail per address per interval. Returns whether one was queued."""
        if subscriber.status in SUPPRESSED_STATUSES:
            return False
        mailing_list = next(
            (s.mailing_list for s in subscriber.subscriptions), None
        ) or session.scalars(select(MailingList).order_by(MailingList.id).limit(1)).one_or_none()
        if mailing_list is None or not self._claim_mail_slot(session, subscriber):
            return False
        url = self.links.preferences_url(subscriber.id, subscriber.email_key)
        message = self.emails.build("preferences", mailing_list, subscriber, url)
        outbox.enqueue(session, "preferences", self.config.mail_from, smtp_address(subscriber.email), message)
        record(session, subscriber, "preferences-link", source="expired-link")
        return True
