"""What comes after what: fan a send out into batches, chain the next batch, and the sweeper
that beat runs, which recovers from anything the queue lost.

Recovery never waits for the broker: the database says which rows are left and whose lease
ran out, and the sweeper enqueues batches for them. Tasks carry ids only, and are enqueued
after the commit that makes their work visible.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from service.bounces.events import prune_raw
from service.config import Config
from service.db import Database, utcnow
from service.mail import outbox
from service.mail.transport import parse_smtp_urls
from service.queue import enqueue
from service.sending.leases import claim_states
from service.sending.models import Delivery, Send
from service.sending.sends import due_scheduled, start_send
from service.sending.states import UNFINISHED, SendStatus
from service.sending.states import DeliveryStatus as DS
from service.subscribers import import_jobs
from service.subscribers.services import SubscriberService
from service.subscribers.signups import process_signups
from service.webhooks import delivery as webhook_delivery
from service.webhooks import events as webhooks

log = logging.getLogger(__name__)
# Batches of one send running at once; more would only queue behind the worker processes.
MAX_PARALLEL_BATCHES = 8
SEND_BATCH = "newsletter.send_batch"
SEND_ISSUE = "newsletter.send_issue"


@dataclass(frozen=True)
class Outlook:
    claimable_now: bool
    in_flight: bool
    next_due: dt.datetime | None


def _exists(session: Session, *conditions) -> bool:  # type: ignore[no-untyped-def]
    return session.scalar(select(Delivery.id).where(*conditions).limit(1)) is not None


def outlook(session: Session, send_id: int) -> Outlook:
    """What is left of a send, answered with index lookups that stop at the first row."""
    now = utcnow()
    claimable = any(_exists(session, Delivery.send_id == send_id, state)
                    for state in claim_states(now))
    in_flight = _exists(session, Delivery.send_id == send_id, Delivery.status == DS.SENDING,
                        Delivery.lease_until >= now)
    next_due = session.scalar(
        select(func.min(Delivery.next_attempt_at)).where(
            Delivery.send_id == send_id, Delivery.status == DS.DEFERRED)
    )
    return Outlook(claimable, in_flight, next_due)


def count_queued(session: Session, send_id: int) -> int:
    return session.scalar(
        select(func.count()).where(Delivery.send_id == send_id, Delivery.status == DS.QUEUED)
    ) or 0


def finish_if_done(session: Session, send_id: int) -> bool:
    """Mark a send finished when no row is left to send."""
    if _exists(session, Delivery.send_id == send_id, Delivery.status.in_(UNFINISHED)):
        return False
    result = session.execute(
        update(Send).where(Send.id == send_id, Send.status == SendStatus.SENDING)
        .values(status=SendStatus.FINISHED, finished_at=utcnow())
    )
    if result.rowcount != 1:
        return False
    webhooks.record_send_finished(session, send_id)  # outbox rows, in this transaction
    return True


def fan_out(db: Database, config: Config, send_id: int) -> int:
    """Start a draft send if need be, then enqueue its first batches. Answers how many."""
    with db.session() as session:
        send = session.get(Send, send_id)
        if send is None:
            return 0
        if send.status == SendStatus.DRAFT:
            start_send(session, send)
        if send.status != SendStatus.SENDING:
            return 0
        queued = count_queued(session, send_id)
        look = outlook(session, send_id)
    batches = min(MAX_PARALLEL_BATCHES, math.ceil(queued / config.send_batch_size))
    if look.claimable_now and not batches:
        batches = 1
    for _ in range(batches):
        enqueue(config, SEND_BATCH, send_id)
    if not batches:
        after_batch(db, config, send_id)
    return batches


def after_batch(db: Database, config: Config, send_id: int, claimed: int = 0) -> None:
    """Chain the next batch, wait for deferred rows, or finish the send."""
    with db.session() as session:
        look = outlook(session, send_id)
        if look.claimable_now and claimed:
            enqueue(config, SEND_BATCH, send_id)
        elif not look.claimable_now and not look.in_flight:
            if look.next_due is not None:
                wait = max(1.0, (look.next_due - utcnow()).total_seconds())
                enqueue(config, SEND_BATCH, send_id, countdown=wait)
            else:
                finish_if_done(session, send_id)


def sweep(db: Database, config: Config, subscribers: SubscriberService | None = None) -> None:
    """Beat's heartbeat: start due schedules, give sends whose batches died or whose tasks
    were lost new batches, finish what is done, deliver and prune the outbox, restart CSV
    imports that lost their run, and take the signups a stopped web process left queued."""
    with db.session() as session:
        started = []
        for send in due_scheduled(session):
            start_send(session, send)
            started.append(send.id)
        active = list(session.scalars(select(Send.id).where(Send.status == SendStatus.SENDING)))
    for send_id in started:
        enqueue(config, SEND_ISSUE, send_id)
    for send_id in active:
        if send_id not in started:
            _revive(db, config, send_id)
    outbox.deliver_due(db, parse_smtp_urls(config.smtp_url))
    with db.session() as session:
        outbox.prune(session, dt.timedelta(days=config.outbox_retention_days))
    prune_raw(db, config)  # raw bounce mail past NEWSLETTER_BOUNCE_RAW_DAYS
    webhook_delivery.sweep(db, config)  # wake the deliverer for due webhooks; prune their log
    import_jobs.revive(config, db)  # CSV imports whose run died or whose task was lost
    if subscribers is not None:
        process_signups(db, subscribers)


def _revive(db: Database, config: Config, send_id: int) -> None:
    with db.session() as session:
        look = outlook(session, send_id)
        if look.claimable_now and not look.in_flight:
            # No live batch holds a row: every batch of this send died or its task was lost.
            queued = count_queued(session, send_id)
            batches = max(1, min(MAX_PARALLEL_BATCHES, math.ceil(queued / config.send_batch_size)))
            log.info("send %s has no live batch: enqueueing %s", send_id, batches)
            for _ in range(batches):
                enqueue(config, SEND_BATCH, send_id)
        elif not look.claimable_now and not look.in_flight and look.next_due is None:
            finish_if_done(session, send_id)
