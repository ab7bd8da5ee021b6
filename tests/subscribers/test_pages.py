"""Subscriber pages over HTTP: CSRF, no enumeration, GETs that change nothing, bad tokens."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import func, select

from service.mail.models import OutboxMessage
from service.subscribers.links import make_token
from service.subscribers.lists import create_list
from service.subscribers.services import find_subscriber
from service.tokens import MAX_AGE
from tests.conftest import process_signups


@pytest.fixture
def site(app):  # type: ignore[no-untyped-def]
    db = app.extensions["db"]
    with db.session() as session:
        create_list(session, "news", "嵌入式AI简报", language="zh-CN", description="端侧 AI 双周刊")
        create_list(session, "digest", "Monthly digest", language="en")
    return app, db


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def _signup(client, email: str, slug: str = "news", **extra: str):  # type: ignore[no-untyped-def]
    """Sign up through the page, then do the queued work as the relay would."""
    page = client.get(f"/subscribe/{slug}").get_data(as_text=True)
    response = client.post(f"/subscribe/{slug}", data={"csrf_token": _csrf(page), "email": email, **extra})
    process_signups(client.application)
    return response


def _outbox_count(db) -> int:  # type: ignore[no-untyped-def]
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(OutboxMessage))


def _subscriber(db, address: str):  # type: ignore[no-untyped-def]
    with db.session() as session:
        subscriber = find_subscriber(session, address)
        if subscriber is not None:
            subscriber.subscriptions  # noqa: B018 - load them while the session is open
        return subscriber


def _token(app, purpose: str, address: str, list_id: int = 0) -> str:  # type: ignore[no-untyped-def]
    subscriber = _subscriber(app.extensions["db"], address)
    signer = app.extensions["subscribers"].links.signer
    return make_token(signer, purpose, subscriber.id, subscriber.email_key, list_id)


def test_signup_page_speaks_the_lists_language(site, client) -> None:  # type: ignore[no-untyped-def]
    zh = client.get("/subscribe/news").get_data(as_text=True)
    assert "订阅「嵌入式AI简报」" in zh and 'lang="zh-CN"' in zh
    en = client.get("/subscribe/digest").get_data(as_text=True)
    assert "Subscribe to Monthly digest" in en and 'lang="en"' in en
    # Pages that belong to no list follow the reader's Accept-Language.
    missing = client.get("/subscribe/no-such-list", headers={"Accept-Language": "en-US,en;q=0.8"})
    assert missing.status_code == 404 and "Page not found" in missing.get_data(as_text=True)
    missing = client.get("/subscribe/no-such-list", headers={"Accept-Language": "zh-TW,zh;q=0.9"})
    assert "页面不存在" in missing.get_data(as_text=True)


def test_same_answer_for_new_and_known_addresses(site, client) -> None:  # type: ignore[no-untyped-def]
    app, db = site
    first = _signup(client, "known@example.com")
    again = _signup(client, "known@example.com")
    fresh = _signup(client, "fresh@example.com")
    assert first.status_code == again.status_code == fresh.status_code == 200

    def strip(response) -> str:  # type: ignore[no-untyped-def]
        return re.sub(r'value="[^"]+"', "", response.get_data(as_text=True))

    assert strip(first) == strip(again) == strip(fresh)
    assert "请查收邮件" in first.get_data(as_text=True)
    assert _outbox_count(db) == 2  # the repeat did not send a second confirmation


def test_invalid_address_reshows_the_form_with_a_localized_message(site, client) -> None:  # type: ignore[no-untyped-def]
    response = _signup(client, "not-an-address")
    assert response.status_code == 400
    assert "这看起来不是一个有效的邮箱地址" in response.get_data(as_text=True)
    response = _signup(client, "nope@", slug="digest")
    assert "That does not look like an email address" in response.get_data(as_text=True)


def test_csrf_is_required_and_the_honeypot_catches_bots(site, client) -> None:  # type: ignore[no-untyped-def]
    app, db = site
    missing = client.post("/subscribe/news", data={"email": "x@example.com"})
    assert missing.status_code == 400 and _subscriber(db, "x@example.com") is None
    bot = _signup(client, "bot@example.com", website="http://spam.example")
    assert bot.status_code == 200 and _subscriber(db, "bot@example.com") is None


def test_confirm_needs_a_post(site, client) -> None:  # type: ignore[no-untyped-def]
    app, db = site
    _signup(client, "f@example.com")
    url = f"/confirm/{_token(app, 'confirm', 'f@example.com')}"
    page = client.get(url)
    assert page.status_code == 200 and _subscriber(db, "f@example.com").status == "pending"
    done = client.post(url, data={"csrf_token": _csrf(page.get_data(as_text=True))})
    assert done.status_code == 200 and "欢迎" in done.get_data(as_text=True)
    assert _subscriber(db, "f@example.com").status == "confirmed"
    assert "/issues/mcu-vision-talk" in done.get_data(as_text=True)  # the latest issue


def test_unsubscribe_get_changes_nothing_and_one_click_post_needs_no_cookie(site, app) -> None:  # type: ignore[no-untyped-def]
    _, db = site
    client = app.test_client()
    _signup(client, "g@example.com")
    with db.session() as session:
        subscriber = find_subscriber(session, "g@example.com")
        app.extensions["subscribers"].confirm(session, subscriber, None)
        list_id = subscriber.subscriptions[0].list_id
    url = f"/unsubscribe/{_token(app, 'unsubscribe', 'g@example.com', list_id)}"
    fresh = app.test_client(use_cookies=False)
    assert fresh.get(url).status_code == 200
    assert _subscriber(db, "g@example.com").subscriptions[0].status == "confirmed"
    response = fresh.post(url, data="List-Unsubscribe=One-Click",
                          content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert _subscriber(db, "g@example.com").subscriptions[0].status == "unsubscribed"
    assert fresh.post(url, data={"List-Unsubscribe": "One-Click"}).status_code == 200  # idempotent


@pytest.mark.parametrize("case", ["tampered", "expired", "wrong-purpose", "garbage", "deleted"])
def test_bad_tokens_get_a_clear_page(site, app, case: str, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    _, db = site
    client = app.test_client()
    _signup(client, "h@example.com")
    # Each page is handed a token that must not work there.
    pages = {"confirm": "unsubscribe", "preferences": "confirm", "unsubscribe": "preferences"}
    tokens = {}
    for page, other in pages.items():
        purpose = other if case == "wrong-purpose" else page
        if case == "expired":
            now = time.time()
            monkeypatch.setattr(time, "time", lambda now=now: now - MAX_AGE["confirm"] - 60)
            tokens[page] = _token(app, "confirm", "h@example.com")
            monkeypatch.setattr(time, "time", lambda now=now: now)
            continue
        token = _token(app, purpose, "h@example.com")
        if case == "tampered":
            token = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
        elif case == "garbage":
            token = "not.a.token"
        tokens[page] = token
    if case == "deleted":
        with db.session() as session:
            session.delete(find_subscriber(session, "h@example.com"))
    for page, token in tokens.items():
        response = client.get(f"/{page}/{token}")
        assert response.status_code == 400, page
        reason = re.search(r'data-reason="(\w+)"', response.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
        expected = {"expired": "expired", "deleted": "unknown"}.get(case, "invalid")
        if case == "expired" and page != "confirm":
            expected = "invalid"  # an old confirm token elsewhere is first of all the wrong purpose
        assert reason == expected, (page, reason)
        # A POST with a valid CSRF token, so that the token check itself is what refuses it.
        csrf = _csrf(client.get("/subscribe/news").get_data(as_text=True))
        posted = client.post(f"/{page}/{token}",
                             data={"List-Unsubscribe": "One-Click", "csrf_token": csrf})
        assert posted.status_code == 400, page
        if page == "unsubscribe":
            assert posted.get_data(as_text=True) == f"invalid token: {expected}\n"
        else:
            shown = re.search(r'data-reason="(\w+)"', posted.get_data(as_text=True))
            assert shown is not None and shown.group(1) == expected, (page, posted.status_code)
    if case != "deleted":
        subscriber = _subscriber(db, "h@example.com")
        assert subscriber.status == "pending" and subscriber.subscriptions[0].status == "pending"


def test_preferences_page_changes_lists_and_exports_data(site, app) -> None:  # type: ignore[no-untyped-def]
    _, db = site
    client = app.test_client()
    _signup(client, "i@example.com")
    url = f"/preferences/{_token(app, 'preferences', 'i@example.com')}"
    page = client.get(url).get_data(as_text=True)
    ids = re.findall(r'name="lists" value="(\d+)"', page)
    saved = client.post(url, data={"csrf_token": _csrf(page), "name": "新名字", "lists": ids[1]})
    assert "订阅设置已保存" in saved.get_data(as_text=True) or "saved" in saved.get_data(as_text=True)
    subscriber = _subscriber(db, "i@example.com")
    assert subscriber.name == "新名字"
    assert {s.list_id: s.status for s in subscriber.subscriptions} == {
        int(ids[0]): "unsubscribed", int(ids[1]): "confirmed"
    }
    exported = client.post(f"{url}/export", data={"csrf_token": _csrf(page)})
    assert exported.mimetype == "application/json" and exported.json["email"] == "i@example.com"
    assert "attachment" in exported.headers["Content-Disposition"]
    refused = client.post(f"{url}/delete", data={"csrf_token": _csrf(page)})
    assert refused.status_code == 302 and _subscriber(db, "i@example.com") is not None
    deleted = client.post(f"{url}/delete", data={"csrf_token": _csrf(page), "confirm_delete": "y"})
    assert deleted.status_code == 200 and _subscriber(db, "i@example.com") is None


def test_api_subscribe_with_json_form_and_cors(site, app) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from tests.conftest import running_app

    _, db = site
    with running_app(replace(app.config["NEWSLETTER"], cors_origins="https://blog.example.org")) as cors_app:
        _cors_checks(cors_app.test_client(), db)


def _cors_checks(client, db) -> None:  # type: ignore[no-untyped-def]
    ok = client.post("/api/subscribe", json={"email": "j@example.com", "list": "digest"},
                     headers={"Origin": "https://blog.example.org"})
    assert ok.status_code == 202 and ok.json == {"status": "ok"}
    assert ok.headers["Access-Control-Allow-Origin"] == "https://blog.example.org"
    other = client.post("/api/subscribe", data={"email": "k@example.com"},
                        headers={"Origin": "https://evil.example"})
    assert other.status_code == 202 and "Access-Control-Allow-Origin" not in other.headers
    preflight = client.options("/api/subscribe", headers={"Origin": "https://blog.example.org"})
    assert preflight.status_code == 204 and "POST" in preflight.headers["Access-Control-Allow-Methods"]
    bad = client.post("/api/subscribe", json={"email": "nope"})
    assert bad.status_code == 400 and "invalid email address" in bad.json["error"]
    assert client.post("/api/subscribe", json={"email": "l@example.com", "list": "zzz"}).status_code == 404
    assert _subscriber(db, "j@example.com") is None  # queued: the answer came first
    process_signups(client.application)
    assert _subscriber(db, "j@example.com").subscriptions[0].status == "pending"
