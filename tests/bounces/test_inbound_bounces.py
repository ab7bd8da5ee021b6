"""Bounces through the real inbound receiver: signed VERP addresses and the plain bounce
address are taken, a forged token is refused at RCPT, and mailto: unsubscribes still work
on the same server."""

from __future__ import annotations

import smtplib

import pytest
from sqlalchemy import func, select

from service.bounces.models import BounceEvent
from service.inbound import InboundServer
from service.subscribers.models import Subscriber
from service.tokens import _base36
from tests.bounces.conftest import BOUNCE_DOMAIN
from tests.bounces.ledger import (
    MAILBOX_FULL,
    deliveries,
    dsn,
    list_id,
    readers,
    sent_send,
    verp_address,
)
from tests.smtp_sink import free_port


@pytest.fixture
def receiver(bounce_app):  # type: ignore[no-untyped-def]
    port = free_port()
    server = InboundServer(bounce_app, "127.0.0.1", port)
    server.start()
    yield port
    server.stop()


def _status(app, email: str) -> str:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        return session.scalars(select(Subscriber.status).where(Subscriber.email == email)).one()


def _events(app) -> int:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        return session.scalar(select(func.count()).select_from(BounceEvent)) or 0


def test_a_dsn_to_a_verp_address_is_recorded(bounce_app, receiver) -> None:  # type: ignore[no-untyped-def]
    readers(bounce_app, 3)
    send_id = sent_send(bounce_app)
    verp = verp_address(bounce_app, deliveries(bounce_app, send_id)["r1@example.com"])
    # The DSN names no VERP address itself: the envelope recipient is what ties it.
    raw = dsn("r1@example.com", to="postmaster@news.example.org")
    with smtplib.SMTP("127.0.0.1", receiver) as smtp:
        smtp.sendmail("", [verp.upper().replace(BOUNCE_DOMAIN.upper(), BOUNCE_DOMAIN)], raw)
    assert _status(bounce_app, "r1@example.com") == "bounced"
    assert _status(bounce_app, "r0@example.com") == "confirmed"
    with bounce_app.extensions["db"].session() as session:
        event = session.scalars(select(BounceEvent)).one()
        assert (event.source, event.matched_by, event.kind) == ("smtp", "verp", "hard")
    # The same DSN again (a sender's retry) is a no-op.
    with smtplib.SMTP("127.0.0.1", receiver) as smtp:
        smtp.sendmail("", [verp], raw)
    assert _events(bounce_app) == 1


def test_the_plain_bounce_address_takes_bounces_too(bounce_app, receiver) -> None:  # type: ignore[no-untyped-def]
    readers(bounce_app, 2)
    sent_send(bounce_app)
    raw = dsn("r0@example.com", list_header=list_id(bounce_app), reason=MAILBOX_FULL)
    with smtplib.SMTP("127.0.0.1", receiver) as smtp:
        smtp.sendmail("", [f"bounces@{BOUNCE_DOMAIN}"], raw)
    with bounce_app.extensions["db"].session() as session:
        event = session.scalars(select(BounceEvent)).one()
        assert (event.kind, event.reason, event.matched_by, event.action) == (
            "soft", "mailboxfull", "list-id", "counted")


def test_forged_verp_and_unknown_addresses_are_refused_at_rcpt(bounce_app, receiver) -> None:  # type: ignore[no-untyped-def]
    readers(bounce_app, 2)
    send_id = sent_send(bounce_app)
    ids = deliveries(bounce_app, send_id)
    good = verp_address(bounce_app, ids["r0@example.com"])
    mac = good.split("@")[0].rsplit("-", 1)[1]
    forged = [
        f"bounces+{_base36(ids['r1@example.com'])}-{mac}@{BOUNCE_DOMAIN}",  # another delivery
        good.replace(mac, "0" * len(mac)),  # a made-up signature
        f"bounces+xyz@{BOUNCE_DOMAIN}",
        f"someone@{BOUNCE_DOMAIN}",
        "bounces@elsewhere.example",
    ]
    with smtplib.SMTP("127.0.0.1", receiver) as smtp:
        smtp.ehlo()
        smtp.mail("")
        for address in forged:
            code, _ = smtp.rcpt(address)
            assert code == 550, address
        assert smtp.rcpt(good)[0] == 250
        smtp.rset()
    assert _events(bounce_app) == 0
    assert {_status(bounce_app, e) for e in ids} == {"confirmed"}


def test_mailto_unsubscribe_still_works_beside_bounces(bounce_app, receiver) -> None:  # type: ignore[no-untyped-def]
    readers(bounce_app, 1)
    with bounce_app.extensions["db"].session() as session:
        subscriber = session.scalars(select(Subscriber)).one()
        subscriber_id, key = subscriber.id, subscriber.email_key
    links = bounce_app.extensions["subscribers"].links
    address = links.unsubscribe_mailto(subscriber_id, key).removeprefix("mailto:").split("?")[0]
    with smtplib.SMTP("127.0.0.1", receiver) as smtp:
        smtp.sendmail("r0@example.com", [address], b"Subject: unsubscribe\r\n\r\nunsubscribe\r\n")
    assert _status(bounce_app, "r0@example.com") == "unsubscribed"
    assert _events(bounce_app) == 0


def test_a_database_failure_answers_451_so_the_bounce_comes_back(bounce_app, receiver,
                                                                 monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import service.inbound

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("database is away")

    monkeypatch.setattr(service.inbound, "handle_bounce_mail", broken)
    with smtplib.SMTP("127.0.0.1", receiver) as smtp:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            smtp.sendmail("", [f"bounces@{BOUNCE_DOMAIN}"], dsn("r0@example.com"))
    assert refused.value.smtp_code == 451
