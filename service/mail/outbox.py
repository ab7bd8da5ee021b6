"""Deliver transactional messages from the outbox table.

A message is written to the outbox in the same transaction as the change that causes it, so
it exists exactly when the change does. After the commit a relay delivers it; a message the
SMTP server defers is retried on a schedule, and one it refuses, or that runs out of
attempts, is marked failed with the server's reply. Nothing is lost when SMTP is down.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from email.message import EmailMessage

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from service.backoff import Backoff
from service.db import Database, utcnow
from service.mail.failover import FailoverTransport
from service.mail.models import OutboxMessage
from service.mail.transport import Outcome, Reply, SmtpSettings

log = logging.getLogger(__name__)

# A deferred message is retried after these waits; after the last one it is marked failed.
RETRIES = Backoff((dt.timedelta(minutes=1), dt.timedelta(minutes=5), dt.timedelta(minutes=30),
                   dt.timedelta(hours=2), dt.timedelta(hours=6)))
MAX_ATTEMPTS = RETRIES.max_attempts
LEASE = dt.timedelta(minutes=5)
CLAIM_BATCH = 50
RELAY_POLL_SECONDS = 30.0


def enqueue(session: Session, kind: str, mail_from: str, to: str, message: EmailMessage) -> None:
    """Add a message to the outbox inside the caller's transaction."""
    session.add(
        OutboxMessage(
            kind=kind, mail_from=mail_from, to_address=to, message=message.as_bytes(), status="pending"
        )
    )


def _claim(db: Database, limit: int) -> tuple[list[int], dt.datetime]:
    """Lease due messages so that two relays never send the same one. The lease's own end
    time is the claim's token: each message is taken again, and its result written, only
    while the row still carries it."""
    now = utcnow()
    due = and_(
        OutboxMessage.next_attempt_at <= now,
        or_(
            OutboxMessage.status == "pending",
            and_(OutboxMessage.status == "sending", OutboxMessage.lease_until < now),
        ),
    )
    claimed: list[int] = []
    with db.session() as session:
        candidates = list(session.scalars(select(OutboxMessage.id).where(due).limit(limit)))
        for message_id in candidates:
            # A conditional UPDATE: only one relay's UPDATE matches a row still due.
            result = session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id, due)
                .values(status="sending", lease_until=now + LEASE)
            )
            if result.rowcount == 1:
                claimed.append(message_id)
    return claimed, now + LEASE


def deliver_due(db: Database, servers: list[SmtpSettings], limit: int = CLAIM_BATCH) -> int:
    """Send the due messages over one connection per server tried. Returns how many were sent.

    Each message is read in one short transaction and its result written in another, matched
    on its lease: no transaction stays open while an SMTP server thinks.
    """
    ids, claimed_lease = _claim(db, limit)
    if not ids:
        return 0
    sent = 0
    transport = FailoverTransport(servers)
    try:
        for message_id in ids:
            with db.session() as session:
                row = session.get(OutboxMessage, message_id)
                # A slow server may have outlasted the lease: then another relay owns it.
                if row is None or row.status != "sending" or row.lease_until != claimed_lease:
                    continue
                fresh = utcnow() + LEASE
                session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id)
                                .values(lease_until=fresh))
                mail_from, to, data, attempts = row.mail_from, row.to_address, row.message, row.attempts
            reply = transport.send(mail_from, to, data)
            sent += _record(db, message_id, attempts + 1, reply, fresh)
    finally:
        transport.close()
    return sent


def _record(db: Database, message_id: int, attempts: int, reply: Reply,
            lease: dt.datetime) -> int:
    values: dict = {"attempts": attempts, "last_reply": str(reply)[:1000], "lease_until": None}
    retry_at = RETRIES.next_attempt(attempts, utcnow())
    if reply.outcome is Outcome.SENT:
        values.update(status="sent", sent_at=utcnow())
    elif reply.outcome is Outcome.FAILED or retry_at is None:
        values.update(status="failed")
        log.warning("outbox %s failed: %s", message_id, reply)
    else:
        values.update(status="pending", next_attempt_at=retry_at)
        log.info("outbox %s deferred: %s", message_id, reply)
    with db.session() as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.status == "sending",
                   OutboxMessage.lease_until == lease)
            .values(**values)
        )
    return 1 if reply.outcome is Outcome.SENT else 0


def prune(session: Session, older_than: dt.timedelta) -> int:
    """Delete mail that was sent (or given up on) longer ago than the retention period: the
    outbox holds addresses, names and links, and keeps them no longer than it needs to."""
    cutoff = utcnow() - older_than
    result = session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.status.in_(("sent", "failed")), OutboxMessage.created_at < cutoff
        )
    )
    return result.rowcount or 0


def forget_address(session: Session, address: str) -> int:
    """Delete every outbox message to an address, sent or not: its reader deleted their data."""
    result = session.execute(
        delete(OutboxMessage).where(func.lower(OutboxMessage.to_address) == address.lower())
    )
    return result.rowcount or 0


class OutboxRelay:
    """A background thread that delivers the outbox after each commit and every so often."""

    def __init__(self, db: Database, smtp: list[SmtpSettings], poll_seconds: float = RELAY_POLL_SECONDS):
        self.db = db
        self.smtp = smtp
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def kick(self) -> None:
        """Deliver soon: called after a commit that queued mail."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                while deliver_due(self.db, self.smtp):
                    pass
            except Exception:  # the relay must outlive a database hiccup; the rows stay queued
                log.exception("outbox relay pass failed")
            self._wake.wait(self.poll_seconds)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
