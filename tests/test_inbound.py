"""Unsubscribing by mail: the mailto: half of List-Unsubscribe, through the real receiver."""

from __future__ import annotations

import smtplib
from dataclasses import replace

import pytest

from service.inbound import InboundServer
from service.subscribers.lists import create_list
from service.subscribers.services import find_subscriber
from service.tokens import _base36
from tests.conftest import running_app
from tests.smtp_sink import free_port


@pytest.fixture
def inbound_app(config):  # type: ignore[no-untyped-def]
    with running_app(replace(config, inbound_domain="news.example.org")) as app:
        port = free_port()
        server = InboundServer(app, "127.0.0.1", port)
        server.start()
        yield app, port
        server.stop()


def _subscribed(app, address: str) -> tuple[int, str, int]:  # type: ignore[no-untyped-def]
    db, service = app.extensions["db"], app.extensions["subscribers"]
    with db.session() as session:
        news = create_list(session, "news", "嵌入式AI简报")
        service.subscribe(session, email=address, mailing_list=news)
        session.flush()
        subscriber = find_subscriber(session, address)
        service.confirm(session, subscriber, None)
        return subscriber.id, subscriber.email_key, news.id


def test_mail_to_the_mailto_address_unsubscribes(inbound_app) -> None:  # type: ignore[no-untyped-def]
    app, port = inbound_app
    subscriber_id, key, list_id = _subscribed(app, "m@example.com")
    mailto = app.extensions["subscribers"].links.unsubscribe_mailto(subscriber_id, key, list_id)
    assert mailto.startswith("mailto:unsubscribe-") and mailto.endswith("@news.example.org?subject=unsubscribe")
    address = mailto[len("mailto:") :].split("?")[0]
    assert len(address.split("@")[0]) <= 64
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.sendmail("m@example.com", [address.upper().replace("NEWS.EXAMPLE.ORG", "news.example.org")],
                      b"Subject: unsubscribe\r\n\r\nunsubscribe\r\n")
    with app.extensions["db"].session() as session:
        subscriber = find_subscriber(session, "m@example.com")
        assert [s.status for s in subscriber.subscriptions] == ["unsubscribed"]


def test_forged_and_foreign_addresses_are_refused_at_rcpt(inbound_app) -> None:  # type: ignore[no-untyped-def]
    app, port = inbound_app
    subscriber_id, key, list_id = _subscribed(app, "n@example.com")
    mailto = app.extensions["subscribers"].links.unsubscribe_mailto(subscriber_id, key, list_id)
    good = mailto[len("mailto:") :].split("?")[0]
    forged = good.replace("unsubscribe-", "unsubscribe-1").replace("@", "0@")
    # The token's first number is the subscriber id in base 36: point it at another subscriber.
    numbers = good.split("@")[0][len("unsubscribe-"):].split("-")
    assert int(numbers[0], 36) == subscriber_id
    other_subscriber = good.replace(f"unsubscribe-{numbers[0]}-", f"unsubscribe-{_base36(subscriber_id + 1)}-", 1)
    assert other_subscriber != good
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for address in (forged, other_subscriber, "postmaster@elsewhere.example", "x@news.example.org"):
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                smtp.sendmail("a@example.com", [address], b"Subject: x\r\n\r\nx\r\n")
    with app.extensions["db"].session() as session:
        subscriber = find_subscriber(session, "n@example.com")
        assert [s.status for s in subscriber.subscriptions] == ["confirmed"]


def test_list_unsubscribe_carries_both_targets(config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from service.cli import main

    env = {
        "NEWSLETTER_DATABASE_URL": config.database_url,
        "NEWSLETTER_INBOUND_DOMAIN": "news.example.org",
        "NEWSLETTER_BASE_URL": "https://news.example.org",
        "NEWSLETTER_INSTANCE_DIR": str(tmp_path / "i"),
    }
    result = CliRunner().invoke(main, ["render", "2026-09-14", "--format", "eml", "--to", "z@example.com"],
                                env=env, catch_exceptions=False)
    header = [line for line in result.stdout.splitlines() if line.startswith("List-Unsubscribe:")][0]
    assert header.startswith("List-Unsubscribe: <https://news.example.org/unsubscribe/")
    assert ">, <mailto:unsubscribe-" in header and header.endswith("@news.example.org?subject=unsubscribe>")
