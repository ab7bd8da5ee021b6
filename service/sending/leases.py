"""Claims on ledger rows: a batch takes rows under a claim token of its own and a short lease,
renews the lease as it goes, and gives back only its own rows.

Every statement here that changes a claimed row matches on the row ids and the token, so a
batch whose lease ran out and was taken over by another changes nothing (PostgreSQL: FOR
UPDATE SKIP LOCKED lets batches claim side by side; SQLite holds one writer at a time).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from service.db import utcnow
from service.sending.models import Delivery
from service.sending.states import DeliveryStatus as DS
from service.subscribers.models import Subscriber, Subscription


def new_token() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    list_id: int
    attempts: int
    deferred_since: dt.datetime | None
    subscriber_id: int
    email: str
    name: str
    email_key: str
    deliverable: bool


def claim_states(now: dt.datetime) -> list:  # type: ignore[type-arg]
    """Queued rows, deferred rows that are due, and rows whose batch died (lease expired)."""
    return [
        Delivery.status == DS.QUEUED,
        and_(Delivery.status == DS.DEFERRED, Delivery.next_attempt_at <= now),
        and_(Delivery.status == DS.SENDING, Delivery.lease_until < now),
    ]


def claim(session: Session, send_id: int, limit: int, lease: dt.timedelta,
          token: str) -> list[Claimed]:
    now = utcnow()
    on_postgres = session.bind.dialect.name == "postgresql"
    candidates: list[int] = []
    # One state at a time: each is an equality on the (send_id, status) index that stops
    # after `limit` rows, where an OR of the three would read every queued row of the send.
    for state in claim_states(now):
        wanted = limit - len(candidates)
        if wanted <= 0:
            break
        query = select(Delivery.id).where(Delivery.send_id == send_id, state).limit(wanted)
        if on_postgres:
            query = query.with_for_update(skip_locked=True)
        candidates.extend(session.scalars(query))
    if not candidates:
        return []
    # The candidates are locked (PostgreSQL) or the transaction holds the write lock (SQLite),
    # so they are still claimable: update them by primary key alone.
    claimed = session.execute(
        update(Delivery)
        .where(Delivery.id.in_(candidates))
        .values(status=DS.SENDING, lease_until=now + lease, claim_token=token)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    ).scalars().all()
    if not claimed:
        return []
    rows = session.execute(
        select(
            Delivery.id, Delivery.list_id, Delivery.attempts, Delivery.deferred_since,
            Subscriber.id, Subscriber.email, Subscriber.name, Subscriber.email_key,
            Subscriber.status, Subscription.status,
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .outerjoin(
            Subscription,
            and_(Subscription.subscriber_id == Delivery.subscriber_id,
                 Subscription.list_id == Delivery.list_id),
        )
        .where(Delivery.id.in_(claimed))
        .order_by(Delivery.id)
    ).all()
    return [
        Claimed(d_id, list_id, attempts, since, s_id, addr, name or "", key,
                s_status == "confirmed" and sub_status == "confirmed")
        for d_id, list_id, attempts, since, s_id, addr, name, key, s_status, sub_status in rows
    ]


def owned(ids: list[int], token: str):  # type: ignore[no-untyped-def]
    """The rows of ``ids`` that this batch still holds."""
    return and_(Delivery.id.in_(ids), Delivery.claim_token == token,
                Delivery.status == DS.SENDING)


def renew(session: Session, send_id: int, token: str, lease: dt.timedelta) -> int:
    """Extend the lease of every row this batch still holds; answers how many that is.
    Matched on the (send_id, status) index and the token, without a list of ids."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.send_id == send_id, Delivery.status == DS.SENDING,
               Delivery.claim_token == token)
        .values(lease_until=utcnow() + lease)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def held(session: Session, send_id: int, token: str) -> int:
    """How many rows this batch still holds: renew's count, without rewriting the rows."""
    return session.scalar(
        select(func.count()).select_from(Delivery)
        .where(Delivery.send_id == send_id, Delivery.status == DS.SENDING,
               Delivery.claim_token == token)
    ) or 0


def release(session: Session, ids: list[int], token: str) -> int:
    """Give rows this batch holds but did not try back to the queue, untouched."""
    if not ids:
        return 0
    result = session.execute(
        update(Delivery).where(owned(ids, token))
        .values(status=DS.QUEUED, lease_until=None, claim_token=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


class Lease:
    """The batch's own view of its lease, on the monotonic clock: it renews well before the
    database would let another batch take the rows."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.renewed = time.monotonic()

    @property
    def delta(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.seconds)

    def due(self) -> bool:
        return time.monotonic() - self.renewed > self.seconds / 3

    def mark_renewed(self, at: float) -> None:
        self.renewed = at
