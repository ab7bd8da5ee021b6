"""End to end, with real PostgreSQL (and SQLite), Redis, Celery workers, the inbound
receiver and Dovecot: a send to 200 readers where

- the sink refuses 10 at RCPT TO with 550 5.1.1,
- DSNs for 10 more land in the IMAP mailbox (polled by the worker's poll_bounces task),
- DSNs for 5 arrive at the inbound receiver by VERP,
- 5 more get "mailbox full" three times over three sends (by mailbox, receiver, mailbox),

after which exactly those 30 are suppressed and the next send skips them. The DSNs name the
envelope sender and Message-ID each reader's message really went out with, as the sink
received it.
"""

from __future__ import annotations

import smtplib
import time
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from service.bounces.models import BounceEvent
from service.inbound import InboundServer
from service.queue import enqueue
from service.sending.models import Delivery
from service.subscribers.models import Subscriber
from tests.bounces.conftest import bounce_settings
from tests.bounces.ledger import MAILBOX_FULL, dsn, readers
from tests.conftest import running_app
from tests.sending.conftest import Workers, start, wait_for_status
from tests.smtp_sink import free_port

READERS = 200
REFUSED = {f"r{n}@example.com" for n in range(0, 10)}
BY_MAILBOX = {f"r{n}@example.com" for n in range(10, 20)}
BY_RECEIVER = {f"r{n}@example.com" for n in range(20, 25)}
MAILBOX_FULL_READERS = {f"r{n}@example.com" for n in range(25, 30)}
EXPECTED = REFUSED | BY_MAILBOX | BY_RECEIVER | MAILBOX_FULL_READERS


class Run:
    """One send through the real pieces, and what the sink made of it."""

    def __init__(self, app, sink, dovecot, receiver_port: int) -> None:  # type: ignore[no-untyped-def]
        self.app, self.sink, self.dovecot, self.port = app, sink, dovecot, receiver_port
        self.send_id = 0

    def send(self) -> dict[str, tuple[str, str]]:
        """Send the issue to the list; each reader it reached → (envelope sender, Message-ID)."""
        self.sink.clear()
        self.send_id = send_id = start(self.app)
        assert wait_for_status(self.app, send_id, ("finished",), timeout=90) == "finished"
        reached = {}
        for received in self.sink.received:
            message_id = received.message()["Message-ID"].strip("<>")
            reached[received.rcpt_tos[0].lower()] = (received.mail_from, message_id)
        return reached

    def to_mailbox(self, raws: list[bytes]) -> None:
        for raw in raws:
            self.dovecot.append(raw)
        before = self.events()
        enqueue(self.app.config["NEWSLETTER"], "newsletter.poll_bounces")
        deadline = time.monotonic() + 60
        while self.events() < before + len(raws) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert self.events() == before + len(raws)
        assert self.dovecot.count("INBOX") == 0

    def to_receiver(self, mails: list[tuple[str, bytes]]) -> None:
        with smtplib.SMTP("127.0.0.1", self.port) as smtp:
            for verp, raw in mails:
                smtp.sendmail("", [verp], raw)

    def events(self) -> int:
        with self.app.extensions["db"].session() as session:
            return session.scalar(select(func.count()).select_from(BounceEvent)) or 0

    def suppressed(self) -> set[str]:
        with self.app.extensions["db"].session() as session:
            return set(session.scalars(select(Subscriber.email).where(
                Subscriber.status.in_(("bounced", "complained")))))


@pytest.mark.slow
def test_bounces_from_every_way_in_suppress_exactly_those_readers(
        send_config, smtp_sink, dovecot) -> None:  # type: ignore[no-untyped-def]
    config = replace(bounce_settings(send_config), bounce_mailbox_url=dovecot.url("imap"))
    workers = Workers(config)
    workers.env["NEWSLETTER_BOUNCE_MAILBOX_URL"] = config.bounce_mailbox_url
    try:
        with running_app(config) as app:
            port = free_port()
            receiver = InboundServer(app, "127.0.0.1", port)
            receiver.start()
            try:
                _run(Run(app, smtp_sink, dovecot, port), workers)
            finally:
                receiver.stop()
    finally:
        workers.stop_all()


def _run(run: Run, workers: Workers) -> None:
    readers(run.app, READERS)
    run.sink.faults.refuse = set(REFUSED)
    workers.start_worker(concurrency=2)

    first = run.send()
    assert set(first) == {f"r{n}@example.com" for n in range(READERS)} - REFUSED
    # The engine's refusals at RCPT are bounces already, recorded after the batch.
    assert run.suppressed() == REFUSED
    run.to_mailbox([dsn(r, envelope=first[r][0], original_id=first[r][1]) for r in BY_MAILBOX]
                   + [dsn(r, envelope=first[r][0], reason=MAILBOX_FULL)
                      for r in MAILBOX_FULL_READERS])
    # The receiver's copies name no VERP address inside: the envelope recipient does.
    run.to_receiver([(first[r][0], dsn(r, to="postmaster@example.com")) for r in BY_RECEIVER])
    assert run.suppressed() == REFUSED | BY_MAILBOX | BY_RECEIVER

    second = run.send()
    assert len(second) == READERS - 25 and not set(second) & run.suppressed()
    run.to_receiver([(second[r][0], dsn(r, to=second[r][0], reason=MAILBOX_FULL))
                     for r in MAILBOX_FULL_READERS])
    assert run.suppressed() == REFUSED | BY_MAILBOX | BY_RECEIVER  # two soft bounces: not yet

    third = run.send()
    assert set(third) == set(second)
    run.to_mailbox([dsn(r, original_id=third[r][1], reason=MAILBOX_FULL)
                    for r in MAILBOX_FULL_READERS])
    assert run.suppressed() == EXPECTED

    fourth = run.send()
    assert len(fourth) == READERS - len(EXPECTED) and not set(fourth) & EXPECTED
    with run.app.extensions["db"].session() as session:
        ledger = session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.send_id == run.send_id))
        kinds = dict(session.execute(select(BounceEvent.kind, func.count())
                                     .group_by(BounceEvent.kind)).all())
        sources = dict(session.execute(select(BounceEvent.source, func.count())
                                       .group_by(BounceEvent.source)).all())
    assert ledger == READERS - len(EXPECTED)
    assert kinds == {"hard": 25, "soft": 15}
    assert sources == {"sync-rcpt": 10, "imap": 20, "smtp": 10}
    assert run.dovecot.count("Processed") == 20 and run.dovecot.count("Unparsed") == 0
