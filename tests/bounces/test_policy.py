"""The bounce service and its policy, on SQLite and PostgreSQL: every way in ends in
record_bounce, which finds the delivery, records once, and suppresses by the settings."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from sqlalchemy import func, select, update

from service.bounces.bounce_mail import handle_bounce_mail
from service.bounces.events import BounceReport, Bounces, prune_raw, record_bounce
from service.bounces.locate import Clues
from service.bounces.models import BounceEvent, BounceRaw
from service.db import utcnow
from service.sending.models import Delivery
from service.subscribers.models import Subscriber, SubscriberEvent, Subscription
from tests.bounces.ledger import (
    MAILBOX_FULL,
    deliveries,
    dsn,
    list_id,
    message_id,
    readers,
    sent_send,
    verp_address,
)


def _bounces(app, **settings) -> Bounces:  # type: ignore[no-untyped-def]
    return Bounces.from_config(replace(app.config["NEWSLETTER"], **settings))


def _mail(app, raw: bytes, **settings):  # type: ignore[no-untyped-def]
    return handle_bounce_mail(app.extensions["db"], _bounces(app, **settings), raw, "imap")


def _subscriber(app, email: str) -> Subscriber:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        subscriber = session.scalars(select(Subscriber).where(Subscriber.email == email)).one()
        session.expunge(subscriber)
        return subscriber


def _delivery_status(app, delivery_id: int) -> str:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        return session.get(Delivery, delivery_id).status


def test_a_hard_bounce_by_verp_suppresses_at_once_and_marks_the_delivery(bounce_app) -> None:  # type: ignore[no-untyped-def]
    readers(bounce_app, 3)
    send_id = sent_send(bounce_app)
    ids = deliveries(bounce_app, send_id)
    delivery_id = ids["r1@example.com"]
    result = _mail(bounce_app, dsn("r1@example.com", envelope=verp_address(bounce_app, delivery_id)))
    assert (result.outcome, result.kind, result.reason, result.action) == (
        "recorded", "hard", "userunknown", "suppressed")
    assert _subscriber(bounce_app, "r1@example.com").status == "bounced"
    assert _subscriber(bounce_app, "r0@example.com").status == "confirmed"
    assert _delivery_status(bounce_app, delivery_id) == "bounced"
    with bounce_app.extensions["db"].session() as session:
        event = session.scalars(select(BounceEvent)).one()
        assert (event.matched_by, event.send_id, event.delivery_id, event.source) == (
            "verp", send_id, delivery_id, "imap")
        assert session.get(BounceRaw, event.id).data.startswith(b"Return-Path: <>")
    # The suppressed reader is left out of the next send's ledger.
    next_send = sent_send(bounce_app)
    assert set(deliveries(bounce_app, next_send)) == {"r0@example.com", "r2@example.com"}


def test_the_same_bounce_twice_is_a_no_op(bounce_app) -> None:  # type: ignore[no-untyped-def]
    readers(bounce_app, 2)
    send_id = sent_send(bounce_app)
    delivery_id = deliveries(bounce_app, send_id)["r0@example.com"]
    raw = dsn("r0@example.com", envelope=verp_address(bounce_app, delivery_id),
              reason=MAILBOX_FULL, own_id="<same@mx.example.net>")
    assert _mail(bounce_app, raw).outcome == "recorded"
    assert _mail(bounce_app, raw).outcome == "duplicate"
    # A copy that arrived by another way (another envelope, same bounce Message-ID) too.
    assert _mail(bounce_app, raw.replace(b"Date: Tue", b"X-Copy: 1\r\nDate: Tue")).outcome == "duplicate"
    with bounce_app.extensions["db"].session() as session:
        assert session.scalar(select(func.count()).select_from(BounceEvent)) == 1


def test_a_forged_verp_token_is_refused_and_changes_nothing(bounce_app) -> None:  # type: ignore[no-untyped-def]
    readers(bounce_app, 2)
    send_id = sent_send(bounce_app)
    good = verp_address(bounce_app, deliveries(bounce_app, send_id)["r0@example.com"])
    other = deliveries(bounce_app, send_id)["r1@example.com"]
    # The token's number is the delivery id: point it at another reader, keep the signature.
    local, domain = good.split("@")
    _number, mac = local[len("bounces+"):].split("-")
    forged = f"bounces+{_b36(other)}-{mac}@{domain}"
    result = _mail(bounce_app, dsn("r1@example.com", envelope=forged))
    assert result.outcome == "forged" and not result.done
    assert _subscriber(bounce_app, "r1@example.com").status == "confirmed"
    assert _delivery_status(bounce_app, other) == "sent"
    with bounce_app.extensions["db"].session() as session:
        assert session.scalar(select(func.count()).select_from(BounceEvent)) == 0


def _b36(number: int) -> str:
    from service.tokens import _base36

    return _base36(number)


def test_message_id_then_list_id_find_the_delivery_but_only_when_they_agree(bounce_app) -> None:  # type: ignore[no-untyped-def]
    readers(bounce_app, 4)
    send_id = sent_send(bounce_app)
    ids = deliveries(bounce_app, send_id)
    by_id = _mail(bounce_app, dsn("r0@example.com", original_id=message_id(
        bounce_app, send_id, ids["r0@example.com"])))
    assert by_id.action == "suppressed"
    # A Message-ID of ours naming another reader's delivery is not believed.
    wrong = _mail(bounce_app, dsn("r1@example.com", original_id=message_id(
        bounce_app, send_id, ids["r2@example.com"])))
    assert wrong.action == "unmatched"
    # Nor one under someone else's domain.
    foreign = _mail(bounce_app, dsn("r2@example.com", original_id=f"nl.{send_id}.{ids['r2@example.com']}.0@evil.example"))
    assert foreign.action == "unmatched"
    by_list = _mail(bounce_app, dsn("r3@example.com", list_header=list_id(bounce_app)))
    assert by_list.action == "suppressed"
    statuses = {email: _subscriber(bounce_app, email).status for email in ids}
    assert statuses == {"r0@example.com": "bounced", "r1@example.com": "confirmed",
                        "r2@example.com": "confirmed", "r3@example.com": "bounced"}
    with bounce_app.extensions["db"].session() as session:
        matched = dict(session.execute(select(BounceEvent.recipient, BounceEvent.matched_by)).all())
    assert matched["r0@example.com"] == "message-id" and matched["r3@example.com"] == "list-id"


def _soft(app, email: str, send_id: int) -> str:  # type: ignore[no-untyped-def]
    delivery_id = deliveries(app, send_id)[email]
    return _mail(app, dsn(email, envelope=verp_address(app, delivery_id), reason=MAILBOX_FULL)).action


def test_soft_bounces_suppress_at_the_limit_within_the_window(bounce_app) -> None:  # type: ignore[no-untyped-def]
    readers(bounce_app, 2)
    actions = [_soft(bounce_app, "r0@example.com", sent_send(bounce_app)) for _ in range(3)]
    assert actions == ["counted", "counted", "suppressed"]
    assert _subscriber(bounce_app, "r0@example.com").status == "bounced"
    assert _subscriber(bounce_app, "r1@example.com").status == "confirmed"


def test_a_successful_delivery_in_between_resets_the_soft_count(bounce_app) -> None:  # type: ignore[no-untyped-def]
    readers(bounce_app, 1)
    assert _soft(bounce_app, "r0@example.com", sent_send(bounce_app)) == "counted"
    assert _soft(bounce_app, "r0@example.com", sent_send(bounce_app)) == "counted"
    sent_send(bounce_app)  # delivered, and no bounce came back
    assert _soft(bounce_app, "r0@example.com", sent_send(bounce_app)) == "counted"
    assert _soft(bounce_app, "r0@example.com", sent_send(bounce_app)) == "counted"
    assert _subscriber(bounce_app, "r0@example.com").status == "confirmed"


def test_soft_bounces_outside_the_window_do_not_count(bounce_app) -> None:  # type: ignore[no-untyped-def]
    readers(bounce_app, 1)
    assert _soft(bounce_app, "r0@example.com", sent_send(bounce_app)) == "counted"
    assert _soft(bounce_app, "r0@example.com", sent_send(bounce_app)) == "counted"
    with bounce_app.extensions["db"].session() as session:
        session.execute(update(BounceEvent).values(received_at=utcnow() - dt.timedelta(days=15)))
    assert _soft(bounce_app, "r0@example.com", sent_send(bounce_app)) == "counted"
    # The limit is a setting: with 2, the next one (two within the window) suppresses.
    send_id = sent_send(bounce_app)
    delivery_id = deliveries(bounce_app, send_id)["r0@example.com"]
    raw = dsn("r0@example.com", envelope=verp_address(bounce_app, delivery_id), reason=MAILBOX_FULL)
    assert _mail(bounce_app, raw, bounce_soft_limit=2).action == "suppressed"


def test_a_complaint_unsubscribes_from_every_list_for_good(bounce_app) -> None:  # type: ignore[no-untyped-def]
    readers(bounce_app, 2, slug="news")
    readers(bounce_app, 2, slug="weekly")  # the same addresses, on a second list
    send_id = sent_send(bounce_app, slug="news")
    delivery_id = deliveries(bounce_app, send_id)["r0@example.com"]
    report = BounceReport(source="generic", dedup_key="generic:c1", kind="complaint",
                          reason="feedback", clues=Clues(delivery_id=delivery_id))
    with bounce_app.extensions["db"].session() as session:
        assert record_bounce(session, _bounces(bounce_app), report).action == "complained"
    subscriber = _subscriber(bounce_app, "r0@example.com")
    assert subscriber.status == "complained"
    assert _delivery_status(bounce_app, delivery_id) == "complained"
    with bounce_app.extensions["db"].session() as session:
        statuses = session.scalars(select(Subscription.status).where(
            Subscription.subscriber_id == subscriber.id)).all()
        assert sorted(statuses) == ["unsubscribed", "unsubscribed"]
    # A later hard bounce does not turn the complaint into a bounce.
    raw = dsn("r0@example.com", envelope=verp_address(bounce_app, delivery_id))
    assert _mail(bounce_app, raw).action == "already-suppressed"
    assert _subscriber(bounce_app, "r0@example.com").status == "complained"
    assert _delivery_status(bounce_app, delivery_id) == "complained"


def test_an_ignored_event_changes_nothing(bounce_app) -> None:  # type: ignore[no-untyped-def]
    readers(bounce_app, 1)
    send_id = sent_send(bounce_app)
    delivery_id = deliveries(bounce_app, send_id)["r0@example.com"]
    report = BounceReport(source="imap", dedup_key="mail:ooo@x", kind="ignore",
                          reason="vacation", clues=Clues(delivery_id=delivery_id))
    with bounce_app.extensions["db"].session() as session:
        assert record_bounce(session, _bounces(bounce_app), report).action == "none"
    assert _subscriber(bounce_app, "r0@example.com").status == "confirmed"
    assert _delivery_status(bounce_app, delivery_id) == "sent"


def test_unreadable_mail_is_not_recorded(bounce_app) -> None:  # type: ignore[no-untyped-def]
    result = _mail(bounce_app, b"\x00\x01 not mail at all")
    assert result.outcome == "unparsed" and result.detail and not result.done


def test_raw_mail_is_pruned_after_its_days_and_the_event_stays(bounce_app) -> None:  # type: ignore[no-untyped-def]
    readers(bounce_app, 2)
    send_id = sent_send(bounce_app)
    for email in ("r0@example.com", "r1@example.com"):
        delivery_id = deliveries(bounce_app, send_id)[email]
        _mail(bounce_app, dsn(email, envelope=verp_address(bounce_app, delivery_id)))
    db = bounce_app.extensions["db"]
    with db.session() as session:
        old = session.scalars(select(BounceRaw.event_id).order_by(BounceRaw.event_id)).first()
        session.execute(update(BounceRaw).where(BounceRaw.event_id == old).values(
            received_at=utcnow() - dt.timedelta(days=31)))
    assert prune_raw(db, bounce_app.config["NEWSLETTER"]) == 1
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(BounceRaw)) == 1
        assert session.scalar(select(func.count()).select_from(BounceEvent)) == 2


@pytest.mark.parametrize(("reply", "expected"), [
    ("550 5.1.1 no such user", ("hard", "userunknown")),
    ("550 sorry, no mailbox here by that name", ("hard", "userunknown")),
    ("552 5.2.2 mailbox full", ("soft", "mailboxfull")),
    ("550 5.7.1 message rejected as spam", ("soft", "spamdetected")),
])
def test_a_refusal_at_rcpt_is_read_with_the_reason_tables(reply: str, expected) -> None:  # type: ignore[no-untyped-def]
    from service.bounces.sync import classify_reply

    assert classify_reply(reply)[:2] == expected


def test_unsuppress_lifts_a_suppression_and_records_who(bounce_app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from service.cli import main

    readers(bounce_app, 2)
    send_id = sent_send(bounce_app)
    delivery_id = deliveries(bounce_app, send_id)["r0@example.com"]
    _mail(bounce_app, dsn("r0@example.com", envelope=verp_address(bounce_app, delivery_id)))
    assert _subscriber(bounce_app, "r0@example.com").status == "bounced"
    config = bounce_app.config["NEWSLETTER"]
    env = {"NEWSLETTER_DATABASE_URL": config.database_url,
           "NEWSLETTER_INSTANCE_DIR": str(tmp_path / "cli")}
    runner = CliRunner()
    result = runner.invoke(main, ["subscribers", "unsuppress", "R0@example.com", "--by", "alice"],
                           env=env)
    assert result.exit_code == 0, result.output
    assert "bounced -> confirmed (by alice)" in result.output
    assert _subscriber(bounce_app, "r0@example.com").status == "confirmed"
    with bounce_app.extensions["db"].session() as session:
        event = session.scalars(select(SubscriberEvent).where(
            SubscriberEvent.kind == "unsuppress")).one()
        assert "alice" in event.detail and event.at is not None
    again = runner.invoke(main, ["subscribers", "unsuppress", "r0@example.com"], env=env)
    assert again.exit_code != 0 and "not suppressed" in again.output
    unknown = runner.invoke(main, ["subscribers", "unsuppress", "nobody@example.com"], env=env)
    assert unknown.exit_code != 0 and "no subscriber" in unknown.output
    # Lifted, the reader is in the next send again.
    assert "r0@example.com" in deliveries(bounce_app, sent_send(bounce_app))
