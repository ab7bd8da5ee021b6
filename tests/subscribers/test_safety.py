"""The reader-facing pages as a link scanner, a stranger and an attacker use them: HEAD and GET
change nothing, forms need their CSRF token, a signup changes no known reader, links expire,
fields are parsed safely, and every page sends its security headers."""

from __future__ import annotations

import email
import email.policy
import re
import time
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from service.mail.models import OutboxMessage
from service.subscribers.links import make_token
from service.subscribers.lists import create_list
from service.subscribers.models import SubscriberEvent
from service.subscribers.services import find_subscriber
from tests.conftest import process_signups, running_app
from tests.subscribers.test_pages import _csrf, _outbox_count, _signup, _subscriber, _token


@pytest.fixture
def site(app):  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        news = create_list(session, "news", "嵌入式AI简报", language="zh-CN")
        digest = create_list(session, "digest", "Monthly digest", language="en")
    return app, app.extensions["db"], news.id, digest.id


def _confirmed_reader(app, address: str, name: str = "") -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    _signup(client, address, name=name)
    with app.extensions["db"].session() as session:
        app.extensions["subscribers"].confirm(session, find_subscriber(session, address), None)


def _statuses(db, address: str) -> dict[int, str]:  # type: ignore[no-untyped-def]
    return {s.list_id: s.status for s in _subscriber(db, address).subscriptions}


def _messages(db) -> list[email.message.EmailMessage]:  # type: ignore[no-untyped-def]
    with db.session() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        return [email.message_from_bytes(r.message, policy=email.policy.default) for r in rows]


# ------------------------------------------------------------------ HEAD and GET only show


def test_head_on_every_token_url_changes_nothing(site) -> None:  # type: ignore[no-untyped-def]
    app, db, news, _digest = site
    client = app.test_client(use_cookies=False)
    _signup(app.test_client(), "pending@example.com")
    _confirmed_reader(app, "reader@example.com", name="读者")
    pending_confirm = _token(app, "confirm", "pending@example.com")
    urls = [
        f"/confirm/{pending_confirm}",
        f"/unsubscribe/{_token(app, 'unsubscribe', 'reader@example.com', news)}",
        f"/unsubscribe/{_token(app, 'unsubscribe', 'reader@example.com')}",
        f"/preferences/{_token(app, 'preferences', 'reader@example.com')}",
    ]
    for url in urls:
        for method in ("HEAD", "GET"):
            response = client.open(url, method=method)
            assert response.status_code == 200, (method, url)
            assert response.headers["Cache-Control"] == "no-store"
    preferences = urls[-1]
    for action in ("export", "delete", "renew"):
        assert client.head(f"{preferences}/{action}").status_code == 405
    assert _subscriber(db, "pending@example.com").status == "pending"
    assert _statuses(db, "pending@example.com") == {news: "pending"}
    assert _statuses(db, "reader@example.com") == {news: "confirmed"}
    reader = _subscriber(db, "reader@example.com")
    assert (reader.status, reader.name) == ("confirmed", "读者")


def test_the_unsubscribe_pages_button_is_a_form_with_csrf(site) -> None:  # type: ignore[no-untyped-def]
    app, db, news, _digest = site
    _confirmed_reader(app, "button@example.com")
    url = f"/unsubscribe/{_token(app, 'unsubscribe', 'button@example.com', news)}"
    client = app.test_client()
    page = client.get(url).get_data(as_text=True)
    assert 'name="csrf_token"' in page and "One-Click" not in page
    assert "/preferences/" not in page  # the List-Unsubscribe URL opens nobody's data
    refused = client.post(url, data={})  # no CSRF token, and not RFC 8058's one-click body
    assert refused.status_code == 400 and _statuses(db, "button@example.com") == {news: "confirmed"}
    done = client.post(url, data={"csrf_token": _csrf(page)})
    assert done.status_code == 200 and done.mimetype == "text/html"
    body = done.get_data(as_text=True)
    assert 'id="unsubscribed"' in body and "/preferences/" not in body
    assert _statuses(db, "button@example.com") == {news: "unsubscribed"}
    with db.session() as session:
        sources = session.scalars(
            select(SubscriberEvent.source).where(SubscriberEvent.kind == "unsubscribe")
        ).all()
    assert sources == ["link"]


def test_the_one_click_post_stays_cookieless_and_is_logged_as_one_click(site) -> None:  # type: ignore[no-untyped-def]
    app, db, news, _digest = site
    _confirmed_reader(app, "oneclick@example.com")
    url = f"/unsubscribe/{_token(app, 'unsubscribe', 'oneclick@example.com', news)}"
    response = app.test_client(use_cookies=False).post(
        url, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200 and response.mimetype == "text/plain"
    with db.session() as session:
        sources = session.scalars(
            select(SubscriberEvent.source).where(SubscriberEvent.kind == "unsubscribe")
        ).all()
    assert sources == ["one-click"]


# ------------------------------------------------------------------ signup and consent


def test_a_signup_for_a_known_address_changes_nobodys_name(site) -> None:  # type: ignore[no-untyped-def]
    app, db, _news, _digest = site
    _confirmed_reader(app, "victim@example.com")
    _signup(app.test_client(), "victim@example.com", name="Mallory")
    _signup(app.test_client(), "victim@example.com", slug="digest", name="Mallory")
    assert _subscriber(db, "victim@example.com").name == ""


def test_a_confirm_link_for_a_suppressed_address_is_refused(site) -> None:  # type: ignore[no-untyped-def]
    app, db, news, _digest = site
    _signup(app.test_client(), "bounced@example.com")
    with db.session() as session:
        find_subscriber(session, "bounced@example.com").status = "bounced"
    [message] = _messages(db)
    url = re.search(r"https://news\.example\.org(/confirm/\S+)", message.get_body(("plain",)).get_content()).group(1)  # type: ignore[union-attr]
    client = app.test_client()
    page = client.get(url)
    assert page.status_code == 403
    posted = client.post(url, data={"csrf_token": _csrf(client.get("/subscribe/news").get_data(as_text=True))})
    assert posted.status_code == 403
    assert _subscriber(db, "bounced@example.com").status == "bounced"
    assert _statuses(db, "bounced@example.com") == {news: "pending"}


def test_a_confirm_link_leaves_lists_added_later_pending(site) -> None:  # type: ignore[no-untyped-def]
    app, db, news, digest = site
    client = app.test_client()
    _signup(client, "first@example.com")
    api = client.post("/api/subscribe", json={"email": "first@example.com", "list": "digest"})
    assert api.status_code == 202
    from tests.conftest import process_signups

    process_signups(app)
    [message] = _messages(db)  # one confirmation a day: the API signup sent none
    url = re.search(r"https://news\.example\.org(/confirm/\S+)", message.get_body(("plain",)).get_content()).group(1)  # type: ignore[union-attr]
    page = client.get(url).get_data(as_text=True)
    assert "嵌入式AI简报" in page and "Monthly digest" not in page
    client.post(url, data={"csrf_token": _csrf(page)})
    assert _statuses(db, "first@example.com") == {news: "confirmed", digest: "pending"}


def test_a_name_that_is_too_long_gets_a_clear_message(site) -> None:  # type: ignore[no-untyped-def]
    app, db, _news, _digest = site
    client = app.test_client()
    for slug, message in (("news", "称呼最多 200 个字符"), ("digest", "200 characters or fewer")):
        page = client.get(f"/subscribe/{slug}").get_data(as_text=True)
        assert 'id="name" name="name"' in page and 'maxlength="200"' in page
        response = client.post(f"/subscribe/{slug}", data={
            "csrf_token": _csrf(page), "email": "long@example.com", "name": "名" * 201,
        })
        assert response.status_code == 400 and message in response.get_data(as_text=True)
    api = client.post("/api/subscribe", json={"email": "long@example.com", "name": "n" * 201})
    assert api.status_code == 400 and "200 characters" in api.json["error"]
    _confirmed_reader(app, "short@example.com")
    url = f"/preferences/{_token(app, 'preferences', 'short@example.com')}"
    page = client.get(url).get_data(as_text=True)
    assert 'maxlength="200"' in page
    response = client.post(url, data={"csrf_token": _csrf(page), "name": "x" * 201})
    assert response.status_code == 400 and "称呼最多 200 个字符" in response.get_data(as_text=True)
    assert _outbox_count(db) == 1 and _subscriber(db, "long@example.com") is None


# ------------------------------------------------------------------ robust parsing


@pytest.mark.parametrize("value", ["²", "١", "12345678901234567890", "-1", "1e3", " 1", "", "9" * 5000])
def test_odd_list_ids_in_the_preferences_form_are_ignored(site, value: str) -> None:  # type: ignore[no-untyped-def]
    app, db, news, digest = site
    _confirmed_reader(app, "odd@example.com")
    client = app.test_client()
    url = f"/preferences/{_token(app, 'preferences', 'odd@example.com')}"
    page = client.get(url).get_data(as_text=True)
    response = client.post(url, data={"csrf_token": _csrf(page), "name": "", "lists": [value, str(digest)]})
    assert response.status_code == 200
    assert _statuses(db, "odd@example.com") == {news: "unsubscribed", digest: "confirmed"}


# ------------------------------------------------------------------ tokens expire


def test_an_expired_preferences_link_offers_a_new_one_by_email(site, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    app, db, _news, _digest = site
    _confirmed_reader(app, "old@example.com")
    with db.session() as session:  # the confirmation's day is long over
        find_subscriber(session, "old@example.com").confirmation_sent_at = None
    days = app.config["NEWSLETTER"].preferences_token_days
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now - days * 86400 - 60)
    old = _token(app, "preferences", "old@example.com")
    monkeypatch.setattr(time, "time", lambda: now)
    client = app.test_client()
    page = client.get(f"/preferences/{old}")
    body = page.get_data(as_text=True)
    assert page.status_code == 400 and 'data-reason="expired"' in body and 'id="renew"' in body
    assert "old@example.com" not in body  # an expired link shows no data
    assert client.post(f"/preferences/{old}/export", data={"csrf_token": _csrf(body)}).status_code == 400
    before = _outbox_count(db)
    sent = client.post(f"/preferences/{old}/renew", data={"csrf_token": _csrf(body)})
    assert sent.status_code == 200 and 'id="link-sent"' in sent.get_data(as_text=True)
    again = client.post(f"/preferences/{old}/renew", data={"csrf_token": _csrf(body)})
    assert again.status_code == 200  # the same answer, and no second email within the day
    messages = _messages(db)
    assert _outbox_count(db) == before + 1
    fresh = re.search(r"https://news\.example\.org(/preferences/\S+)", messages[-1].get_body(("plain",)).get_content()).group(1)  # type: ignore[union-attr]
    assert messages[-1]["To"].addresses[0].addr_spec == "old@example.com"
    opened = client.get(fresh)
    assert opened.status_code == 200 and "old@example.com" in opened.get_data(as_text=True)


# ------------------------------------------------------------------ headers


def test_every_html_page_sends_the_security_headers(site) -> None:  # type: ignore[no-untyped-def]
    app, _db, news, _digest = site
    _confirmed_reader(app, "headers@example.com")
    client = app.test_client()
    pages = [
        "/archive", "/issues/2026-09-14", "/subscribe", "/subscribe/news", "/no-such-page",
        f"/confirm/{_token(app, 'confirm', 'headers@example.com')}",
        f"/unsubscribe/{_token(app, 'unsubscribe', 'headers@example.com', news)}",
        f"/preferences/{_token(app, 'preferences', 'headers@example.com')}",
        "/preferences/not-a-token",
    ]
    for url in pages:
        response = client.get(url)
        assert response.mimetype == "text/html", url
        policy = response.headers.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy, url
        assert "script-src" not in policy  # no script runs on any page
        assert response.headers["X-Content-Type-Options"] == "nosniff", url
        assert response.headers["Referrer-Policy"] == "no-referrer", url
        assert response.headers["X-Frame-Options"] == "DENY", url
        if "/confirm/" in url or "/unsubscribe/" in url or "/preferences/" in url:
            assert response.headers["Cache-Control"] == "no-store", url
    asset = client.get("/assets/qrcode.png")
    assert asset.headers["X-Content-Type-Options"] == "nosniff"


def test_the_dev_inbox_is_never_served_in_production(config) -> None:  # type: ignore[no-untyped-def]
    production = replace(config, env="production", secret_key="p" * 40, dev_inbox=True)
    with running_app(production.validate()) as app:
        assert app.test_client().get("/dev/inbox").status_code == 404
    with running_app(replace(config, dev_inbox=True)) as app:
        assert app.test_client().get("/dev/inbox").status_code == 200


def test_a_token_from_the_old_key_still_works_after_a_rotation(site) -> None:  # type: ignore[no-untyped-def]
    app, db, news, _digest = site
    _confirmed_reader(app, "rotate@example.com")
    subscriber = _subscriber(db, "rotate@example.com")
    old_token = make_token(app.extensions["subscribers"].links.signer, "unsubscribe",
                           subscriber.id, subscriber.email_key, news)
    config = app.config["NEWSLETTER"]
    rotated = replace(config, secret_key="a-brand-new-key", secret_key_old=config.secret_key)
    with running_app(rotated) as new_app:
        client = new_app.test_client()
        assert client.get(f"/unsubscribe/{old_token}").status_code == 200
        new_token = new_app.extensions["subscribers"].links.unsubscribe_url(
            subscriber.id, subscriber.email_key, news
        ).rsplit("/", 1)[1]
        assert new_token != old_token
    with running_app(replace(config, secret_key="a-brand-new-key")) as forgetful:
        assert forgetful.test_client().get(f"/unsubscribe/{old_token}").status_code == 400


# ------------------------------------------------------------------ any text, never a 500

@pytest.fixture
def unlimited(config):  # type: ignore[no-untyped-def]
    roomy = replace(config, signup_rate_limit="100000/minute", signup_address_rate_limit="100000/hour")
    with running_app(roomy) as app:
        with app.extensions["db"].session() as session:
            create_list(session, "digest", "Monthly digest", language="en")
        yield app


ANY_TEXT = st.text(max_size=260) | st.sampled_from(["²", "\x00", "a\r\nBcc: x@example.com", "<script>", "=?utf-8?b?QQ==?="])


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=ANY_TEXT, email_text=ANY_TEXT, lists=st.lists(ANY_TEXT, max_size=3))
def test_any_text_in_any_field_gets_an_answer_never_a_500(unlimited, name: str, email_text: str,  # type: ignore[no-untyped-def]
                                                           lists: list[str]) -> None:
    app = unlimited
    client = app.test_client()
    page = client.get("/subscribe/digest").get_data(as_text=True)
    for email_value in (email_text, "fuzz@example.com"):
        response = client.post("/subscribe/digest", data={
            "csrf_token": _csrf(page), "email": email_value, "name": name,
        })
        assert response.status_code in (200, 400), response.status_code
        api = client.post("/api/subscribe", json={"email": email_value, "name": name, "list": name})
        assert api.status_code in (202, 400, 404), api.status_code
    process_signups(app)
    with app.extensions["db"].session() as session:
        subscriber = find_subscriber(session, "fuzz@example.com")
        subscriber_id, key = subscriber.id, subscriber.email_key
    url = app.extensions["subscribers"].links.preferences_url(subscriber_id, key)
    form = client.get(url).get_data(as_text=True)
    saved = client.post(url, data={"csrf_token": _csrf(form), "name": name, "lists": lists})
    assert saved.status_code in (200, 400), saved.status_code
    for purpose in ("confirm", "unsubscribe", "preferences"):
        path = f"/{purpose}/{name or 'x'}"
        status = client.get(path).status_code
        # Werkzeug answers a doubled slash with a redirect to the single-slash URL.
        assert status in (400, 404) or (status == 308 and "//" in path), (path, status)
