"""A reader's whole journey in a real browser: subscribe, confirm from the email, unsubscribe,
change preferences. Real PostgreSQL (and SQLite), Redis and an SMTP sink."""

from __future__ import annotations

import re

from sqlalchemy import select

from service.subscribers.lists import create_list
from service.subscribers.models import MailingList
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

    # 1. Subscribe.
    page.goto(f"{base}/subscribe/news")
    page.fill("#email", "reader@example.com")
    page.fill("#name", "读者")
    screenshot(page, "signup-form")
    page.click("button[type=submit]")
    page.wait_for_selector("text=请查收邮件")
    screenshot(page, "check-inbox")
    assert _subscriber(live_app, "reader@example.com")[0].status == "pending"

    # 2. The confirmation email arrives in the sink, with its link.
    [received] = smtp_sink.wait_for(1)
    message = received.message()
    assert "嵌入式AI简报" in message["Subject"]
    html = message.get_body(("html",)).get_content()
    confirm_url = re.search(r'href="(http://127\.0\.0\.1:\d+/confirm/[^"]+)"', html).group(1)  # type: ignore[union-attr]

    # 3. Opening the link shows a button and changes nothing; the click confirms.
    page.goto(confirm_url)
    screenshot(page, "confirm-page")
    assert _subscriber(live_app, "reader@example.com")[0].status == "pending"
    page.click("#confirm")
    page.wait_for_selector("#welcome")
    screenshot(page, "welcome")
    subscriber, statuses = _subscriber(live_app, "reader@example.com")
    assert subscriber.status == "confirmed" and statuses == {"news": "confirmed"}
    assert page.locator("a[href^='/issues/']").count() >= 1  # the latest issue is offered

    # 4. A GET of the unsubscribe link (what a link scanner does) changes nothing.
    links = live_app.extensions["subscribers"].links
    with live_app.extensions["db"].session() as session:
        news_id = session.scalars(select(MailingList.id).where(MailingList.slug == "news")).one()
    unsubscribe_url = links.unsubscribe_url(subscriber.id, subscriber.email_key, news_id)
    page.goto(unsubscribe_url)
    screenshot(page, "unsubscribe-page")
    assert _subscriber(live_app, "reader@example.com")[1] == {"news": "confirmed"}

    # 5. The RFC 8058 one-click POST, with no cookies at all, unsubscribes.
    cookieless = playwright.request.new_context()
    response = cookieless.post(unsubscribe_url, form={"List-Unsubscribe": "One-Click"})
    assert response.status == 200
    cookieless.dispose()
    assert _subscriber(live_app, "reader@example.com")[1] == {"news": "unsubscribed"}

    # 6. The preferences page changes lists.
    page.goto(links.preferences_url(subscriber.id, subscriber.email_key))
    page.check("input[data-slug=news]")
    page.check("input[data-slug=digest]")
    page.fill("#name", "老读者")
    screenshot(page, "preferences")
    page.click("#save")
    page.wait_for_selector("#saved")
    screenshot(page, "preferences-saved")
    subscriber, statuses = _subscriber(live_app, "reader@example.com")
    assert statuses == {"news": "confirmed", "digest": "confirmed"} and subscriber.name == "老读者"
    context.close()
