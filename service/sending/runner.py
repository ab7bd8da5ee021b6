"""Run a send: claim a batch of ledger rows, personalise and send each over the pooled SMTP
connection, and record the results in bulk.

A batch never trusts the queue: it claims rows in the database (FOR UPDATE SKIP LOCKED on
PostgreSQL; a conditional UPDATE on SQLite, right for one worker), re-checks each recipient's
state before SMTP, and writes results every FLUSH_EVERY messages, so a worker killed mid-batch
can resend at most that many once its lease expires.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
from dataclasses import dataclass, field
from email.utils import parseaddr

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from service.config import Config
from service.db import Database
from service.mail.message import smtp_address
from service.mail.transport import FailoverTransport, Outcome, Reply, parse_smtp_urls
from service.sending.assembly import MessageTemplate, Recipient
from service.sending.dkim_signing import DkimSigner
from service.sending.models import Delivery, Send
from service.sending.preview import personal_values
from service.sending.sends import compiled_from_send, release_leases
from service.sending.throttle import ConnectionSlots, RateLimiter
from service.subscribers.links import LinkBuilder
from service.subscribers.models import Subscriber, Subscription, utcnow
from service.tokens import TokenSigner

log = logging.getLogger(__name__)
FLUSH_EVERY = 50


@dataclass
class Sender:
    """What one worker process keeps across batches: connections, limits, prepared messages."""

    config: Config
    db: Database
    links: LinkBuilder
    transport: FailoverTransport
    rate: RateLimiter
    slots: ConnectionSlots
    dkim: DkimSigner | None = None
    templates: dict[tuple[int, str], MessageTemplate] = field(default_factory=dict)

    @classmethod
    def build(cls, config: Config, db: Database, redis_client: object = None) -> Sender:
        signer = TokenSigner(config.secret_key)
        return cls(
            config=config,
            db=db,
            links=LinkBuilder(config.base_url, signer, config.inbound_domain),
            transport=FailoverTransport(parse_smtp_urls(config.smtp_url)),
            rate=RateLimiter(config.send_rate, redis_client),
            slots=ConnectionSlots(config.smtp_max_connections, redis_client),
            dkim=DkimSigner.from_settings(
                config.dkim_selector,
                config.dkim_domain or config.message_id_domain,
                config.dkim_key_file,
            ),
        )

    def template(self, send: Send) -> MessageTemplate:
        key = (send.id, send.content_hash)
        if key not in self.templates:
            domain = self.config.message_id_domain
            self.templates = {key: MessageTemplate(
                compiled_from_send(send), mail_from=send.mail_from, reply_to=send.reply_to,
                list_id=f"<{send.issue_slug.encode('ascii', 'ignore').decode() or 'issue'}.{domain}>",
            )}
        return self.templates[key]

    def envelope_sender(self, send: Send, delivery_id: int) -> str:
        """VERP: bounces come back to an address that names the delivery."""
        if self.config.bounce_domain:
            token = self.links.signer.sign_short("verp", (delivery_id,))
            return f"bounces+{token}@{self.config.bounce_domain}"
        return parseaddr(send.mail_from)[1]

    def close(self) -> None:
        self.transport.close()
        self.slots.release()


@dataclass
class BatchResult:
    claimed: int = 0
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    skipped: int = 0
    paused: str = ""
    stopped: bool = False


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    list_id: int
    attempts: int
    subscriber_id: int
    email: str
    name: str
    email_key: str
    deliverable: bool


def _claimable(send_id: int, now: dt.datetime):  # type: ignore[no-untyped-def]
    return and_(Delivery.send_id == send_id, or_(*_claim_states(now)))


def _claim_states(now: dt.datetime) -> list:  # type: ignore[type-arg]
    """Queued rows, deferred rows that are due, and rows whose batch died (lease expired)."""
    return [
        Delivery.status == "queued",
        and_(Delivery.status == "deferred", Delivery.next_attempt_at <= now),
        and_(Delivery.status == "sending", Delivery.lease_until < now),
    ]


def claim(session: Session, send_id: int, limit: int, lease: dt.timedelta) -> list[Claimed]:
    now = utcnow()
    on_postgres = session.bind.dialect.name == "postgresql"
    candidates: list[int] = []
    # One state at a time: each is an equality on the (send_id, status) index that stops
    # after `limit` rows, where an OR of the three would read every queued row of the send.
    for state in _claim_states(now):
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
    # so they are still claimable: update them by primary key alone. A state re-check here
    # would let the planner scan every queued row of the send.
    claimed = session.execute(
        update(Delivery)
        .where(Delivery.id.in_(candidates))
        .values(status="sending", lease_until=now + lease)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    ).scalars().all()
    if not claimed:
        return []
    rows = session.execute(
        select(
            Delivery.id, Delivery.list_id, Delivery.attempts, Subscriber.id, Subscriber.email,
            Subscriber.name, Subscriber.email_key, Subscriber.status, Subscription.status,
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
        Claimed(d_id, list_id, attempts, s_id, addr, name or "", key,
                s_status == "confirmed" and sub_status == "confirmed")
        for d_id, list_id, attempts, s_id, addr, name, key, s_status, sub_status in rows
    ]


class Results:
    """Outcomes waiting to be written; flushed in a handful of statements."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.sent: list[int] = []
        self.skipped: list[int] = []
        self.retry: list[dict] = []  # deferred or failed, one row each
        self.requeue: list[int] = []  # never tried: back to the queue

    def add(self, row: Claimed, reply: Reply, result: BatchResult) -> None:
        now = utcnow()
        if reply.outcome is Outcome.SENT:
            self.sent.append(row.delivery_id)
            result.sent += 1
            return
        attempts = row.attempts + (0 if reply.code == 0 else 1)
        if reply.outcome is Outcome.FAILED or attempts >= self.config.send_max_attempts:
            status, when = "failed", None
            result.failed += 1
        else:
            delay = min(self.config.send_retry_base_seconds * 2 ** max(attempts - 1, 0),
                        self.config.send_retry_max_seconds)
            status, when = "deferred", now + dt.timedelta(seconds=delay)
            result.deferred += 1
        self.retry.append({"b_id": row.delivery_id, "b_status": status, "b_attempts": attempts,
                           "b_next": when, "b_reply": str(reply)[:1000]})

    def flush(self, session: Session) -> None:
        now = utcnow()
        if self.sent:
            session.execute(
                update(Delivery).where(Delivery.id.in_(self.sent))
                .values(status="sent", sent_at=now, attempts=Delivery.attempts + 1,
                        last_reply="250 ok", lease_until=None)
                .execution_options(synchronize_session=False)
            )
        if self.skipped:
            session.execute(
                update(Delivery).where(Delivery.id.in_(self.skipped))
                .values(status="skipped", last_reply="not subscribed any more", lease_until=None)
                .execution_options(synchronize_session=False)
            )
        if self.requeue:
            session.execute(
                update(Delivery).where(Delivery.id.in_(self.requeue), Delivery.status == "sending")
                .values(status="queued", lease_until=None)
                .execution_options(synchronize_session=False)
            )
        if self.retry:
            session.connection().execute(
                update(Delivery.__table__)
                .where(Delivery.__table__.c.id == bindparam("b_id"))
                .values(status=bindparam("b_status"), attempts=bindparam("b_attempts"),
                        next_attempt_at=bindparam("b_next"), last_reply=bindparam("b_reply"),
                        lease_until=None),
                self.retry,
            )
        self.sent, self.skipped, self.retry, self.requeue = [], [], [], []


def _send_state(session: Session, send_id: int) -> tuple[str, int]:
    status, errors = session.execute(
        select(Send.status, Send.consecutive_errors).where(Send.id == send_id)
    ).one()
    return status, errors


def process_batch(sender: Sender, send_id: int) -> BatchResult:
    """Claim and send one batch of a send. Safe to run twice or concurrently."""
    config, db = sender.config, sender.db
    result = BatchResult()
    with db.session() as session:
        send = session.get(Send, send_id)
        if send is None or send.status != "sending":
            result.stopped = True
            return result
        template = sender.template(send)
        rows = claim(session, send_id, config.send_batch_size,
                     dt.timedelta(seconds=config.send_lease_seconds))
        errors = send.consecutive_errors
        session.expunge(send)
    result.claimed = len(rows)
    if not rows:
        return result
    if not sender.slots.acquire():
        with db.session() as session:
            release_leases(session, send_id)
        result.stopped = True
        return result
    results = Results(config)
    date = email.utils.formatdate(usegmt=True)
    pending = list(rows)
    while pending:
        row = pending.pop(0)
        if not row.deliverable:
            results.skipped.append(row.delivery_id)
            result.skipped += 1
        else:
            reply = _send_one(sender, send, template, row, date)
            errors = errors + 1 if reply.code == 0 else 0
            if errors >= config.send_max_consecutive_errors:
                results.requeue.append(row.delivery_id)
                results.requeue.extend(r.delivery_id for r in pending)
                result.paused = f"paused after {errors} connection failures in a row: {reply.text}"
                pending = []
            else:
                results.add(row, reply, result)
        if len(results.sent) + len(results.retry) + len(results.skipped) >= FLUSH_EVERY or not pending:
            with db.session() as session:
                results.flush(session)
                status, _ = _send_state(session, send_id)
                session.execute(update(Send).where(Send.id == send_id).values(consecutive_errors=errors))
                if result.paused and status == "sending":
                    session.execute(update(Send).where(Send.id == send_id)
                                    .values(status="paused", status_reason=result.paused))
                    release_leases(session, send_id)
                elif status != "sending" and pending:
                    # Paused or cancelled by an operator: hand the rest back untouched.
                    results.requeue.extend(r.delivery_id for r in pending)
                    results.flush(session)
                    pending = []
                    result.stopped = True
            sender.slots.refresh()
    return result


def _send_one(sender: Sender, send: Send, template: MessageTemplate, row: Claimed, date: str) -> Reply:
    values = personal_values(sender.links, template.compiled, row.email, row.name,
                             row.subscriber_id, row.list_id)
    recipient = Recipient(
        address=smtp_address(row.email),
        name=row.name,
        message_id=f"<nl.{send.id}.{row.delivery_id}.{row.attempts}@{sender.config.message_id_domain}>",
        values=values,
        unsubscribe_mailto=sender.links.unsubscribe_mailto(row.subscriber_id, row.email_key, row.list_id),
    )
    data = template.render(recipient, date)
    if sender.dkim is not None:
        data = sender.dkim.sign(data)
    sender.rate.acquire()
    return sender.transport.send_prepared(
        sender.envelope_sender(send, row.delivery_id), recipient.address, data
    )


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
    claimable = any(_exists(session, Delivery.send_id == send_id, state) for state in _claim_states(now))
    in_flight = _exists(session, Delivery.send_id == send_id, Delivery.status == "sending",
                        Delivery.lease_until >= now)
    next_due = session.scalar(
        select(func.min(Delivery.next_attempt_at)).where(
            Delivery.send_id == send_id, Delivery.status == "deferred")
    )
    return Outlook(claimable, in_flight, next_due)


def count_queued(session: Session, send_id: int) -> int:
    return session.scalar(
        select(func.count()).where(Delivery.send_id == send_id, Delivery.status == "queued")
    ) or 0


def finish_if_done(session: Session, send_id: int) -> bool:
    """Mark a send finished when no row is left to send."""
    if _exists(session, Delivery.send_id == send_id,
               Delivery.status.in_(("queued", "sending", "deferred"))):
        return False
    result = session.execute(
        update(Send).where(Send.id == send_id, Send.status == "sending")
        .values(status="finished", finished_at=utcnow())
    )
    return result.rowcount == 1
