"""The signup queue: a signup request only validates and writes one row, then answers.

Whether the address is new, known, confirmed or suppressed changes how much work a signup
is (a new subscriber, a rendered confirmation email...). Doing that work in the request
would let anyone time the answer and learn whether an address is subscribed. So the request
inserts a :class:`SignupRequest` row, the same for every address, and commits; a relay
thread in the web process takes the rows a moment later, and beat's sweep takes any that a
stopped process left behind. Each row is deleted in the transaction that processes it, so a
signup is done once, and nothing is lost when Redis, SMTP or the process goes away.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from service.db import Database
from service.subscribers.addresses import Address, InvalidAddress, clean_name
from service.subscribers.models import MailingList, SignupRequest
from service.subscribers.services import SubscriberService

log = logging.getLogger(__name__)

# Rows taken per pass, and tries before a row that keeps failing (a bug) is dropped.
BATCH = 100
MAX_ATTEMPTS = 5
# The relay waits this long after a request kicks it: the request has answered by then, so
# the differing work never shares the interpreter with the answer it must not slow down.
SETTLE_SECONDS = 0.2
POLL_SECONDS = 30.0


def queue_signup(session: Session, mailing_list: MailingList, address: Address, *, name: str = "",
                 ip: str | None = None, source: str = "web") -> None:
    """Write a signup down inside the caller's transaction: the only work a request does."""
    session.add(
        SignupRequest(
            list_id=mailing_list.id, email=address.email, email_key=address.key,
            name=clean_name(name), source=source[:50], ip=ip,
        )
    )


def _process_one(db: Database, service: SubscriberService, request_id: int) -> bool | None:
    """Do one queued signup. Returns whether it queued an email; None when it was gone."""
    with db.session() as session:
        row = session.get(SignupRequest, request_id)
        # Deleting first takes the row: a second relay's DELETE finds nothing (PostgreSQL
        # waits for this transaction; SQLite serialises writers), and gives up on it.
        taken = session.execute(delete(SignupRequest).where(SignupRequest.id == request_id))
        if row is None or taken.rowcount != 1:
            return None
        mailing_list = session.get(MailingList, row.list_id)
        if mailing_list is None:
            return False
        try:
            return service.subscribe(
                session, email=row.email, name=row.name, mailing_list=mailing_list, ip=row.ip,
                source=row.source,
            )
        except InvalidAddress as exc:  # it was valid when queued; the rules may have changed
            log.warning("signup %s dropped: %s", request_id, exc)
            return False


def _failed(db: Database, request_id: int) -> None:
    with db.session() as session:
        session.execute(
            update(SignupRequest)
            .where(SignupRequest.id == request_id)
            .values(attempts=SignupRequest.attempts + 1)
        )
        session.execute(
            delete(SignupRequest).where(
                SignupRequest.id == request_id, SignupRequest.attempts >= MAX_ATTEMPTS
            )
        )


def process_signups(db: Database, service: SubscriberService, limit: int = BATCH) -> tuple[int, int]:
    """Process queued signups, oldest first. Returns (processed, emails queued)."""
    with db.session() as session:
        ids = list(session.scalars(select(SignupRequest.id).order_by(SignupRequest.id).limit(limit)))
    processed = mailed = 0
    for request_id in ids:
        try:
            outcome = _process_one(db, service, request_id)
        except Exception:  # keep the row for another try, then drop it; the others go on
            log.exception("signup %s failed", request_id)
            _failed(db, request_id)
            continue
        if outcome is not None:
            processed += 1
            mailed += bool(outcome)
    return processed, mailed


class SignupRelay:
    """A background thread that processes the queue shortly after each signup."""

    def __init__(self, db: Database, service: SubscriberService,
                 on_mail: Callable[[], None] = lambda: None, settle_seconds: float = SETTLE_SECONDS,
                 poll_seconds: float = POLL_SECONDS) -> None:
        self.db = db
        self.service = service
        self.on_mail = on_mail
        self.settle_seconds = settle_seconds
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._busy = threading.Lock()  # held for a pass, so drain() waits for one in flight

    def kick(self) -> None:
        """Process soon: called after a request committed a signup."""
        with self._lock:
            if self._stop.is_set():
                return
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="signup-relay", daemon=True)
                self._thread.start()
        self._wake.set()

    def drain(self) -> int:
        """Process everything queued now, in the caller's thread. Returns how many."""
        total = 0
        with self._busy:
            while True:
                processed, mailed = process_signups(self.db, self.service)
                if mailed:
                    self.on_mail()
                total += processed
                if processed < 1:
                    return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_seconds)
            if self._stop.wait(self.settle_seconds):
                return
            self._wake.clear()
            try:
                self.drain()
            except Exception:  # the relay must outlive a database hiccup; the rows stay queued
                log.exception("signup relay pass failed")

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
