"""Where every way in ends: record one bounce or complaint, once, and apply the policy.

The inbound SMTP receiver and the mailbox poller call :func:`handle_bounce_mail` with raw
mail; the webhook views call :func:`handle_provider_events` with verified provider events;
the sending engine's refusals at RCPT TO come through ``service.bounces.sync``. All of them
build a :class:`BounceReport` and call :func:`record_bounce`, which

1. skips an event whose dedup key is already stored (a second copy changes nothing);
2. finds the delivery (``service.bounces.locate``) — a forged VERP token refuses the event;
3. stores the event (and its raw mail, kept NEWSLETTER_BOUNCE_RAW_DAYS);
4. marks the delivery ``bounced`` or ``complained`` and applies the policy to its reader.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.bounces.locate import Clues, ForgedToken, Target, locate
from service.bounces.models import BounceEvent, BounceRaw
from service.bounces.policy import BouncePolicy, apply_policy
from service.bounces.report import log_rate_warnings
from service.bounces.webhooks.common import ProviderEvent
from service.config import Config
from service.db import Database, utcnow
from service.sending.states import DeliveryStatus
from service.subscribers.models import Subscriber
from service.tokens import TokenSigner
from service.webhooks import events as webhooks

log = logging.getLogger(__name__)
MAX_KEY = 255
MAX_RAW_BYTES = 512 * 1024  # of a bounce's raw mail kept; the returned original is the bulk
# Rows a batch has claimed: a bounce cannot be about the attempt in flight.
IN_FLIGHT = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING)


@dataclass(frozen=True)
class BounceReport:
    """One bounce or complaint, as any way in knows it."""

    source: str
    dedup_key: str
    kind: str
    reason: str
    clues: Clues = field(default_factory=Clues)
    status: str = ""
    diagnostic: str = ""
    occurred_at: dt.datetime | None = None
    raw: bytes | None = None


@dataclass(frozen=True)
class Recorded:
    outcome: str  # recorded, duplicate or forged
    event_id: int | None = None
    action: str = ""
    subscriber_id: int | None = None
    delivery_id: int | None = None


@dataclass(frozen=True)
class Bounces:
    """What recording needs: the policy, the signer that checks VERP tokens, our domain."""

    policy: BouncePolicy
    signer: TokenSigner
    domain: str
    raw_days: int = 30

    @classmethod
    def from_config(cls, config: Config) -> Bounces:
        return cls(BouncePolicy.from_config(config), TokenSigner.from_config(config),
                   config.message_id_domain, config.bounce_raw_days)


def dedup_key(namespace: str, value: str) -> str:
    """``namespace:value``, hashed when too long for the column."""
    key = f"{namespace}:{value}"
    if len(key) <= MAX_KEY:
        return key
    return f"{namespace}-sha256:{hashlib.sha256(value.encode('utf-8', 'replace')).hexdigest()}"


def record_bounce(session: Session, bounces: Bounces, report: BounceReport) -> Recorded:
    """Record one event in the caller's transaction, at most once per dedup key."""
    if session.scalar(select(BounceEvent.id).where(BounceEvent.dedup_key == report.dedup_key)):
        return Recorded("duplicate")
    try:
        target = locate(session, bounces.signer, report.clues, bounces.domain)
    except ForgedToken:
        log.warning("bounce from %s refused: forged VERP token", report.source)
        return Recorded("forged")
    delivery, subscriber = target.delivery, target.subscriber
    event = BounceEvent(
        dedup_key=report.dedup_key, source=report.source, kind=report.kind,
        reason=report.reason, status=report.status[:20], diagnostic=report.diagnostic[:1000],
        recipient=(report.clues.recipient or (subscriber.email if subscriber else ""))[:320],
        subscriber_id=subscriber.id if subscriber else None,
        send_id=delivery.send_id if delivery else None,
        delivery_id=delivery.id if delivery else None,
        matched_by=target.matched_by if subscriber else "", action="",
        occurred_at=report.occurred_at, received_at=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(event)
            session.flush()
    except IntegrityError:  # the same event, recorded meanwhile by another process
        return Recorded("duplicate")
    if report.raw and bounces.raw_days > 0:
        session.add(BounceRaw(event_id=event.id, received_at=event.received_at,
                              data=report.raw[:MAX_RAW_BYTES]))
    event.action = _act(session, bounces.policy, event, target)
    webhooks.record_bounce_event(session, event)  # outbox rows, in this transaction
    if event.send_id is not None and event.kind in ("hard", "complaint"):
        log_rate_warnings(session, event.send_id, event.kind)
    return Recorded("recorded", event.id, event.action, event.subscriber_id, event.delivery_id)


def _act(session: Session, policy: BouncePolicy, event: BounceEvent, target: Target) -> str:
    if target.subscriber is None:
        return "unmatched"
    if target.delivery is not None and target.delivery.status not in IN_FLIGHT:
        if event.kind == "complaint":
            target.delivery.status = DeliveryStatus.COMPLAINED
        elif event.kind in ("hard", "soft") and target.delivery.status != "complained":
            target.delivery.status = DeliveryStatus.BOUNCED
        session.flush()  # the policy's count of successful deliveries must see it
    # Lock the reader, so two bounces recorded at once cannot both count below the limit.
    subscriber = session.scalars(
        select(Subscriber).where(Subscriber.id == target.subscriber.id).with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return apply_policy(session, policy, subscriber, event)


def record_in_own_session(db: Database, bounces: Bounces, reports: list[BounceReport]
                          ) -> list[Recorded]:
    """Record several events in one transaction (one webhook request)."""
    with db.session() as session:
        return [record_bounce(session, bounces, report) for report in reports]


def provider_report(event: ProviderEvent) -> BounceReport:
    """A verified ``ProviderEvent`` as a report: its recipient is vouched for."""
    clues = Clues(message_id=event.message_id, recipient=event.recipient, trusted_recipient=True)
    raw = json.dumps(event.raw, ensure_ascii=False, sort_keys=True).encode("utf-8")
    return BounceReport(
        source=event.provider, dedup_key=dedup_key(event.provider, event.event_id),
        kind=event.kind, reason=event.reason, clues=clues, status=event.status,
        diagnostic=event.diagnostic, occurred_at=event.occurred_at, raw=raw,
    )


def handle_provider_events(db: Database, bounces: Bounces, events: list[ProviderEvent]
                           ) -> list[Recorded]:
    """Store verified provider events. ``ignore`` events (deliveries, delays, opens) change
    nothing and are not stored: a provider sends one for every message."""
    reports = [provider_report(event) for event in events if event.kind != "ignore"]
    return record_in_own_session(db, bounces, reports) if reports else []


def prune_raw(db: Database, config: Config) -> int:
    """Delete raw bounce mail older than NEWSLETTER_BOUNCE_RAW_DAYS (beat's sweep calls it)."""
    cutoff = utcnow() - dt.timedelta(days=config.bounce_raw_days)
    with db.session() as session:
        return session.execute(
            delete(BounceRaw).where(BounceRaw.received_at < cutoff)
            .execution_options(synchronize_session=False)
        ).rowcount
