"""A reader's whole journey in a real browser: subscribe, confirm from the email, change
preferences, unsubscribe with the page's button; every page with its security headers. Real
PostgreSQL (and SQLite), Redis and an SMTP sink."""

from __future__ import annotations

import re

from sqlalchemy import select

from service.subscribers.lists import create_list
from service.subscribers.models import MailingList, SubscriberEvent
from service.subscribers.services import find_subscriber


def _subscriber(app, address: str):  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        subscriber = find_subscriber(session, address)
        statuses = {s.mailing_list.slug: s.status for s in subscriber.subscriptions}
        return subscriber, statuses


def test_reader_journey(live_app, smtp_sink, browser, screenshot) -> None:  # type: ignore[no-untyped-def]
    playwright, chromium = browser
    base = live_app.config["NEWSLETTER"].base_url
    with live_app.extensions["db"].session() as session:
        create_list(session, "news", "嵌入式AI简报", description="端侧推理、模型压缩与部署")
        create_list(session, "digest", "Monthly digest", language="en")

    context = chromium.new_context(locale="zh-CN")
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))

    # 1. Subscribe.
    _check_headers(page.goto(f"{base}/subscribe/news"))
    page.fill("#email", "reader@example.com")
    page.fill("#name", "读者")
    screenshot(page, "signup-form")
    page.click("button[type=submit]")
    page.wait_for_selector("text=请查收邮件")
    screenshot(page, "check-inbox")

    # 2. The signup relay does the work a moment after the answer: the confirmation email
    # arrives in the sink, with its link, and the reader is pending.
    [received] = smtp_sink.wait_for(1)
    assert _subscriber(live_app, "reader@example.com")[0].status == "pending"
    message = received.message()
    assert "嵌入式AI简报" in message["Subject"]
    html = message.get_body(("html",)).get_content()
    confirm_url = re.search(r'href="(http://127\.0\.0\.1:\d+/confirm/[^"]+)"', html).group(1)  # type: ignore[union-attr]

    # 3. Opening the link shows a button and changes nothing; the click confirms.
    _check_headers(page.goto(confirm_url), token_page=True)
    screenshot(page, "confirm-page")
    assert _subscriber(live_app, "reader@example.com")[0].status == "pending"
    page.click("#confirm")
    page.wait_for_selector("#welcome")
    screenshot(page, "welcome")
    subscriber, statuses = _subscriber(live_app, "reader@example.com")
    assert subscriber.status == "confirmed" and statuses == {"news": "confirmed"}
    assert page.locator("a[href^='/issues/']").count() >= 1  # the latest issue is offered

    # 4. The preferences page (from the link every issue carries) changes lists and name.
    links = live_app.extensions["subscribers"].links
    preferences = page.goto(links.preferences_url(subscriber.id, subscriber.email_key))
    _check_headers(preferences, token_page=True)
    page.check("input[data-slug=digest]")
    page.fill("#name", "老读者")
    screenshot(page, "preferences")
    page.click("#save")
    page.wait_for_selector("#saved")
    screenshot(page, "preferences-saved")
    subscriber, statuses = _subscriber(live_app, "reader@example.com")
    assert statuses == {"news": "confirmed", "digest": "confirmed"} and subscriber.name == "老读者"

    # 5. Opening the unsubscribe link (what a link scanner does, with GET or HEAD) changes
    # nothing, and the page does not lead to the reader's data.
    with live_app.extensions["db"].session() as session:
        news_id = session.scalars(select(MailingList.id).where(MailingList.slug == "news")).one()
    unsubscribe_url = links.unsubscribe_url(subscriber.id, subscriber.email_key, news_id)
    scanner = playwright.request.new_context()
    assert scanner.head(unsubscribe_url).status == 200
    scanner.dispose()
    shown = page.goto(unsubscribe_url)
    _check_headers(shown, token_page=True)
    screenshot(page, "unsubscribe-page")
    assert page.locator("a[href*='/preferences/']").count() == 0
    assert _subscriber(live_app, "reader@example.com")[1]["news"] == "confirmed"

    # 6. The page's own button: an ordinary form post that shows the result page.
    page.click("#unsubscribe")
    page.wait_for_selector("#unsubscribed")
    screenshot(page, "unsubscribed")
    assert "你将不再收到「嵌入式AI简报」。" in page.inner_text("body")
    assert _subscriber(live_app, "reader@example.com")[1] == {"news": "unsubscribed", "digest": "confirmed"}
    with live_app.extensions["db"].session() as session:
        sources = session.scalars(
            select(SubscriberEvent.source).where(SubscriberEvent.kind == "unsubscribe")
        ).all()
    assert sources == ["link"]

    # 7. The RFC 8058 one-click POST, with no cookies at all, still works for mail clients.
    digest_id = next(s.list_id for s in subscriber.subscriptions if s.mailing_list.slug == "digest")
    cookieless = playwright.request.new_context()
    response = cookieless.post(links.unsubscribe_url(subscriber.id, subscriber.email_key, digest_id),
                               form={"List-Unsubscribe": "One-Click"})
    assert response.status == 200 and response.text() == "unsubscribed\n"
    cookieless.dispose()
    assert _subscriber(live_app, "reader@example.com")[1] == {"news": "unsubscribed", "digest": "unsubscribed"}
    assert not [m for m in console if "Content Security Policy" in m], console  # nothing blocked
    context.close()


def _check_headers(response, token_page: bool = False) -> None:  # type: ignore[no-untyped-def]
    headers = response.all_headers()
    policy = headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy, headers
    assert headers.get("x-content-type-options") == "nosniff"
    assert headers.get("referrer-policy") == "no-referrer"
    if token_page:
        assert headers.get("cache-control") == "no-store"
