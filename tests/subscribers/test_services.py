"""Subscriber services against SQLite and PostgreSQL: double opt-in, leaving, preferences."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re

import pytest
from sqlalchemy import func, select

from service.mail.models import OutboxMessage
from service.subscribers.addresses import InvalidAddress
from service.subscribers.links import ALL_LISTS, resolve_token
from service.subscribers.lists import create_list
from service.subscribers.models import Subscriber, SubscriberEvent, Subscription
from service.subscribers.services import SubscriptionRefused, find_subscriber


@pytest.fixture
def ctx(app):  # type: ignore[no-untyped-def]
    db = app.extensions["db"]
    with db.session() as session:
        news = create_list(session, "news", "嵌入式AI简报", language="zh-CN")
        digest = create_list(session, "digest", "Monthly digest", language="en")
        open_list = create_list(session, "open", "No opt-in", double_opt_in=False)
    return app, db, app.extensions["subscribers"], (news.id, digest.id, open_list.id)


def _outbox(session) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def _confirm_link(message: OutboxMessage) -> str:
    parsed = email.message_from_bytes(message.message, policy=email.policy.default)
    text = parsed.get_body(("plain",)).get_content()
    return re.search(r"https://news\.example\.org/confirm/\S+", text).group(0)  # type: ignore[union-attr]


def test_signup_is_pending_until_confirmed_and_mails_a_confirmation(ctx) -> None:  # type: ignore[no-untyped-def]
    app, db, service, (news, _digest, _open) = ctx
    with db.session() as session:
        queued = service.subscribe(
            session, email="Reader@Example.COM", name="读者", mailing_list=_list(session, news),
            ip="203.0.113.5",
        )
    assert queued
    with db.session() as session:
        subscriber = find_subscriber(session, "reader@example.com")
        assert subscriber is not None
        assert (subscriber.email, subscriber.status, subscriber.signup_ip) == (
            "Reader@example.com", "pending", "203.0.113.5"
        )
        assert subscriber.subscriptions[0].status == "pending"
        [message] = _outbox(session)
        parsed = email.message_from_bytes(message.message, policy=email.policy.default)
        assert parsed["To"] == "读者 <Reader@example.com>"
        assert "嵌入式AI简报" in parsed["Subject"] and "List-Unsubscribe" not in parsed
        html = parsed.get_body(("html",)).get_content()
        assert 'style="' in html and "确认订阅" in html
        token = _confirm_link(message).rsplit("/", 1)[1]
        target = resolve_token(session, service.links.signer, "confirm", token)
        lists = service.confirm(session, target.subscriber, "198.51.100.7")
        assert [m.slug for m in lists] == ["news"]
    with db.session() as session:
        subscriber = find_subscriber(session, "READER@example.com")
        assert subscriber.status == "confirmed" and subscriber.confirm_ip == "198.51.100.7"
        assert subscriber.confirmed_at is not None
        assert subscriber.subscriptions[0].status == "confirmed"
        kinds = session.scalars(
            select(SubscriberEvent.kind).where(SubscriberEvent.subscriber_id == subscriber.id)
        ).all()
        assert kinds == ["signup", "confirm"]


def _list(session, list_id):  # type: ignore[no-untyped-def]
    from service.subscribers.models import MailingList

    return session.get_one(MailingList, list_id)


def test_one_confirmation_per_address_per_day(ctx) -> None:  # type: ignore[no-untyped-def]
    app, db, service, (news, digest, _open) = ctx
    for address, list_id in [("a@example.com", news), ("A@EXAMPLE.com", news), ("a@example.com", digest)]:
        with db.session() as session:
            service.subscribe(session, email=address, mailing_list=_list(session, list_id))
    with db.session() as session:
        assert len(_outbox(session)) == 1
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 1
        subscriber = find_subscriber(session, "a@example.com")
        subscriber.confirmation_sent_at -= dt.timedelta(hours=25)
    with db.session() as session:
        assert service.subscribe(session, email="a@example.com", mailing_list=_list(session, news))
    with db.session() as session:
        assert len(_outbox(session)) == 2
        # One confirmation covers every pending list of the address.
        subscriber = find_subscriber(session, "a@example.com")
        confirmed = service.confirm(session, subscriber, None)
        assert sorted(m.slug for m in confirmed) == ["digest", "news"]


def test_single_opt_in_list_confirms_at_once(ctx) -> None:  # type: ignore[no-untyped-def]
    app, db, service, (_news, _digest, open_list) = ctx
    with db.session() as session:
        assert not service.subscribe(session, email="b@example.com", mailing_list=_list(session, open_list))
    with db.session() as session:
        subscriber = find_subscriber(session, "b@example.com")
        assert subscriber.status == "confirmed" and subscriber.subscriptions[0].status == "confirmed"
        assert _outbox(session) == []


def test_suppressed_addresses_are_quietly_ignored(ctx) -> None:  # type: ignore[no-untyped-def]
    app, db, service, (news, _digest, _open) = ctx
    with db.session() as session:
        service.subscribe(session, email="c@example.com", mailing_list=_list(session, news))
        session.flush()
        find_subscriber(session, "c@example.com").status = "blocklisted"
    with db.session() as session:
        session.execute(OutboxMessage.__table__.delete())
    with db.session() as session:
        assert not service.subscribe(session, email="c@example.com", mailing_list=_list(session, news))
        assert _outbox(session) == []
        with pytest.raises(SubscriptionRefused):
            service.confirm(session, find_subscriber(session, "c@example.com"), None)


def test_invalid_addresses_are_refused(ctx) -> None:  # type: ignore[no-untyped-def]
    app, db, service, (news, _digest, _open) = ctx
    for bad in ["", "not-an-address", "a@b", "a@@example.com", "a b@example.com", "x@localhost"]:
        with db.session() as session, pytest.raises(InvalidAddress):
            service.subscribe(session, email=bad, mailing_list=_list(session, news))


def test_names_cannot_inject_headers_or_encoded_words(ctx) -> None:  # type: ignore[no-untyped-def]
    app, db, service, (news, _digest, _open) = ctx
    evil = "Eve\r\nBcc: victim@example.com\u2028=?utf-8?b?QWRtaW4=?=\x85\u202e"
    with db.session() as session:
        service.subscribe(session, email="eve@example.com", name=evil, mailing_list=_list(session, news))
    with db.session() as session:
        subscriber = find_subscriber(session, "eve@example.com")
        assert subscriber.name == "Eve Bcc: victim@example.com"
        [message] = _outbox(session)
        parsed = email.message_from_bytes(message.message, policy=email.policy.default)
        assert parsed["Bcc"] is None and parsed["To"].addresses[0].addr_spec == "eve@example.com"


def test_unsubscribe_one_list_or_all_and_come_back(ctx) -> None:  # type: ignore[no-untyped-def]
    app, db, service, (news, digest, open_list) = ctx
    with db.session() as session:
        for list_id in (news, digest):
            service.subscribe(session, email="d@example.com", mailing_list=_list(session, list_id))
        session.flush()
        service.confirm(session, find_subscriber(session, "d@example.com"), None)
    with db.session() as session:
        subscriber = find_subscriber(session, "d@example.com")
        service.unsubscribe(session, subscriber, news, source="one-click")
        service.unsubscribe(session, subscriber, news, source="one-click")  # idempotent
    with db.session() as session:
        statuses = dict(session.execute(
            select(Subscription.list_id, Subscription.status)
        ).all())
        assert statuses == {news: "unsubscribed", digest: "confirmed"}
        subscriber = find_subscriber(session, "d@example.com")
        assert subscriber.status == "confirmed"
        service.unsubscribe(session, subscriber, ALL_LISTS)
    with db.session() as session:
        subscriber = find_subscriber(session, "d@example.com")
        assert subscriber.status == "unsubscribed"
        assert {s.status for s in subscriber.subscriptions} == {"unsubscribed"}
        # Re-subscribing: a new signup asks for confirmation again, then it is as before.
        session.execute(OutboxMessage.__table__.delete())
        subscriber.confirmation_sent_at = None
        assert service.subscribe(session, email="d@example.com", mailing_list=_list(session, news))
        session.flush()
        service.confirm(session, subscriber, None)
        assert subscriber.status == "confirmed"
        assert {s.list_id: s.status for s in subscriber.subscriptions}[news] == "confirmed"


def test_preferences_export_and_delete(ctx) -> None:  # type: ignore[no-untyped-def]
    app, db, service, (news, digest, open_list) = ctx
    with db.session() as session:
        service.subscribe(session, email="e@example.com", name="小明", mailing_list=_list(session, news))
        session.flush()
        service.confirm(session, find_subscriber(session, "e@example.com"), "192.0.2.1")
    with db.session() as session:
        subscriber = find_subscriber(session, "e@example.com")
        service.update_preferences(session, subscriber, list_ids={digest, open_list}, name="小明同学")
    with db.session() as session:
        subscriber = find_subscriber(session, "e@example.com")
        assert subscriber.name == "小明同学"
        assert {s.list_id: s.status for s in subscriber.subscriptions} == {
            news: "unsubscribed", digest: "confirmed", open_list: "confirmed"
        }
        data = service.export_data(session, subscriber)
        assert data["email"] == "e@example.com" and data["consent"]["confirm_ip"] == "192.0.2.1"
        assert {s["list"] for s in data["subscriptions"]} == {"news", "digest", "open"}
        assert [e["kind"] for e in data["events"]][:2] == ["signup", "confirm"]
        service.delete(session, subscriber)
    with db.session() as session:
        assert find_subscriber(session, "e@example.com") is None
        assert session.scalar(select(func.count()).select_from(Subscription)) == 0
        assert session.scalar(select(func.count()).select_from(SubscriberEvent)) == 0


def test_optional_welcome_email_after_confirming(app) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from tests.conftest import running_app

    with running_app(replace(app.config["NEWSLETTER"], welcome_email=True)) as welcoming:
        _welcome_flow(welcoming)


def _welcome_flow(welcoming) -> None:  # type: ignore[no-untyped-def]
    db, service = welcoming.extensions["db"], welcoming.extensions["subscribers"]
    with db.session() as session:
        news = create_list(session, "welcome", "嵌入式AI简报", description="每两周一期。")
        service.subscribe(session, email="w@example.com", mailing_list=news)
        session.flush()
        service.confirm(session, find_subscriber(session, "w@example.com"), None)
        service.confirm(session, find_subscriber(session, "w@example.com"), None)  # no second one
    with db.session() as session:
        kinds = [m.kind for m in _outbox(session)]
        assert kinds == ["confirm", "welcome"]
        welcome = email.message_from_bytes(_outbox(session)[1].message, policy=email.policy.default)
        assert welcome["Subject"] == "欢迎订阅「嵌入式AI简报」"
        assert "每两周一期。" in welcome.get_body(("plain",)).get_content()


def test_a_signup_never_changes_a_known_readers_name_or_data(ctx) -> None:  # type: ignore[no-untyped-def]
    app, db, service, (news, digest, _open) = ctx
    with db.session() as session:
        service.subscribe(session, email="known@example.com", mailing_list=_list(session, news))
        service.subscribe(session, email="named@example.com", name="Alice",
                          attributes={"city": "Hangzhou"}, mailing_list=_list(session, news))
    for list_id in (news, digest):
        with db.session() as session:
            for address in ("known@example.com", "named@example.com"):
                service.subscribe(session, email=address, name="Mallory", attributes={"x": "y"},
                                  mailing_list=_list(session, list_id))
    with db.session() as session:
        known = find_subscriber(session, "known@example.com")
        named = find_subscriber(session, "named@example.com")
        assert (known.name, known.attributes) == ("", {})
        assert (named.name, named.attributes) == ("Alice", {"city": "Hangzhou"})


@pytest.mark.parametrize("status", ["bounced", "complained", "blocklisted"])
def test_confirm_refuses_every_suppressed_state(ctx, status: str) -> None:  # type: ignore[no-untyped-def]
    app, db, service, (news, _digest, _open) = ctx
    with db.session() as session:
        service.subscribe(session, email="s@example.com", mailing_list=_list(session, news))
    with db.session() as session:
        [message] = _outbox(session)
        find_subscriber(session, "s@example.com").status = status
    with db.session() as session:
        token = _confirm_link(message).rsplit("/", 1)[1]
        target = resolve_token(session, service.links.signer, "confirm", token)
        with pytest.raises(SubscriptionRefused):
            service.confirm(session, target.subscriber, None, target.list_ids)
    with db.session() as session:
        subscriber = find_subscriber(session, "s@example.com")
        assert subscriber.status == status
        assert [s.status for s in subscriber.subscriptions] == ["pending"]


def test_a_confirm_link_confirms_only_the_lists_pending_when_it_was_made(ctx) -> None:  # type: ignore[no-untyped-def]
    app, db, service, (news, digest, _open) = ctx
    with db.session() as session:
        assert service.subscribe(session, email="t@example.com", mailing_list=_list(session, news))
    with db.session() as session:  # later, someone else adds a list; no new email within the day
        assert not service.subscribe(session, email="t@example.com", mailing_list=_list(session, digest))
        [message] = _outbox(session)
    with db.session() as session:
        target = resolve_token(session, service.links.signer, "confirm",
                               _confirm_link(message).rsplit("/", 1)[1])
        assert target.list_ids == (news,)
        confirmed = service.confirm(session, target.subscriber, None, target.list_ids)
        assert [m.slug for m in confirmed] == ["news"]
    with db.session() as session:
        statuses = {s.list_id: s.status for s in find_subscriber(session, "t@example.com").subscriptions}
        assert statuses == {news: "confirmed", digest: "pending"}


def test_deleting_a_reader_removes_their_outbox_mail_and_queued_signups(ctx) -> None:  # type: ignore[no-untyped-def]
    from service.subscribers.addresses import normalise_address
    from service.subscribers.models import SignupRequest
    from service.subscribers.signups import queue_signup

    app, db, service, (news, _digest, _open) = ctx
    with db.session() as session:
        service.subscribe(session, email="Gone@例子.cn", name="读者", mailing_list=_list(session, news))
        service.subscribe(session, email="stays@example.com", mailing_list=_list(session, news))
        queue_signup(session, _list(session, news), normalise_address("gone@例子.cn"))
    with db.session() as session:
        assert len(_outbox(session)) == 2
        service.delete(session, find_subscriber(session, "gone@例子.cn"))
    with db.session() as session:
        assert [m.to_address for m in _outbox(session)] == ["stays@example.com"]
        assert session.scalar(select(func.count()).select_from(SignupRequest)) == 0
