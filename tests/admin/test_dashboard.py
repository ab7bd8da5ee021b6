"""The dashboard at /admin/: weekly chart figures on SQLite and PostgreSQL, the last sends'
rates, each warning when (and only when) its condition holds, and the charts drawn in
headless Chromium under the admin pages' CSP."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import replace

import pytest
from sqlalchemy import update

from service.admin.dashboard import chart_data, service_warnings
from service.bounces.mailbox import parse_mailbox_url
from service.bounces.models import BounceEvent, BounceMailbox
from service.db import utcnow
from service.ops.health import smtp_cache
from service.sending.batch import process_batch
from service.sending.models import Send
from service.sending.sender import Sender
from service.subscribers.lists import create_list
from service.subscribers.models import Subscriber, SubscriberEvent, Subscription
from tests.admin.conftest import ADMIN, EDITOR, log_in
from tests.conftest import running_app
from tests.e2e.conftest import browser, live_app  # noqa: F401  (fixtures)
from tests.sending.conftest import fill_list, start

TODAY = dt.date(2026, 11, 25)  # a Wednesday: its week starts on Monday 2026-11-23
MAILBOX = "imap://bounces:secret@127.0.0.1:1/INBOX"


def at(day: str, hour: int = 12) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=dt.UTC)


def add_reader(session, list_id: int, n: int, joined: dt.datetime, left: dt.datetime | None = None) -> Subscriber:  # type: ignore[no-untyped-def]
    reader = Subscriber(email=f"d{n}@example.com", email_key=f"d{n}@example.com", status="confirmed")
    session.add(reader)
    session.flush()
    session.add(Subscription(subscriber_id=reader.id, list_id=list_id, created_at=joined,
                             updated_at=left or joined,
                             status="unsubscribed" if left else "confirmed"))
    session.add(SubscriberEvent(subscriber_id=reader.id, list_id=list_id, kind="confirm", at=joined))
    if left:
        session.add(SubscriberEvent(subscriber_id=reader.id, list_id=list_id, kind="unsubscribe", at=left))
    return reader


def test_weekly_figures_are_counted_in_sql_on_both_databases(app) -> None:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        news = create_list(session, "news", "News")
        create_list(session, "empty", "Empty")
        add_reader(session, news.id, 1, at("2025-01-06"))  # before the window: the baseline
        add_reader(session, news.id, 2, at("2025-01-06"), left=at("2026-11-16", 23))  # left in it
        add_reader(session, news.id, 3, at("2026-11-09", 0))  # a Monday, just after midnight
        add_reader(session, news.id, 4, at("2026-11-15", 23))  # a Sunday, late: the same week
        reader = add_reader(session, news.id, 5, at("2026-11-24"))
        session.add(BounceEvent(dedup_key="b1", source="mail", kind="hard", reason="unknown_user",
                                subscriber_id=reader.id, received_at=at("2026-11-25")))
        session.add(BounceEvent(dedup_key="b2", source="mail", kind="ignore", reason="auto_reply",
                                subscriber_id=reader.id, received_at=at("2026-11-25")))
    with app.extensions["db"].session() as session:
        data = chart_data(session, today=TODAY)
    weeks = data["activity"]["weeks"]
    assert len(weeks) == 26 and weeks[-1] == "2026-11-23" and weeks[-3] == "2026-11-09"
    activity = data["activity"]
    assert activity["confirmed"][-3:] == [2, 0, 1]
    assert activity["unsubscribed"][-3:] == [0, 1, 0]
    assert activity["bounced"][-3:] == [0, 0, 1]  # the auto-reply is no bounce
    assert sum(activity["confirmed"]) == 3  # the 2025 ones are outside the window
    lists = {line["name"]: line["readers"] for line in data["readers"]["lists"]}
    assert lists["News"][0] == 2 and lists["News"][-4:] == [2, 4, 3, 4]
    assert set(lists["Empty"]) == {0}


@pytest.fixture
def dashboard_app(config):  # type: ignore[no-untyped-def]
    with running_app(replace(config, bounce_mailbox_url=MAILBOX, send_batch_size=100)) as app:
        yield app


def warning_kinds(client) -> list[str]:  # type: ignore[no-untyped-def]
    page = dashboard(client)
    assert page.status_code == 200
    return re.findall(r'data-kind="([a-z]+)"', page.get_data(as_text=True))


def dashboard(client):  # type: ignore[no-untyped-def]
    """The page as it is now: the charts and the sends' rates are cached a minute."""
    charts = client.application.extensions.get("admin_charts")
    if charts is not None:
        charts.clear()
    return client.get("/admin/")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_each_warning_shows_when_its_condition_holds_and_not_otherwise(dashboard_app, admins, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    app, db = dashboard_app, dashboard_app.extensions["db"]
    client = app.test_client()
    assert client.get("/admin/").status_code == 302  # no session: to the login page
    log_in(client, *EDITOR)
    # The mailbox is configured but was never polled.
    assert warning_kinds(client) == ["mailbox"]
    name = parse_mailbox_url(MAILBOX).name
    with db.session() as session:
        session.add(BounceMailbox(name=name, last_polled_at=utcnow(), last_success_at=utcnow()))
    assert warning_kinds(client) == []

    fill_list(app, 40)
    send_id = start(app, queue=False)
    sender = Sender.build(app.config["NEWSLETTER"], db)
    try:
        process_batch(sender, send_id)
    finally:
        sender.close()
    page = dashboard(client).get_data(as_text=True)
    assert f'id="send-{send_id}"' in page and "100.0%" in page
    assert warning_kinds(client) == []

    with db.session() as session:  # one complaint in 40: 2.5%
        reader = session.query(Subscriber).filter_by(email_key="r3@example.com").one()
        session.add(BounceEvent(dedup_key="c1", source="mail", kind="complaint", reason="abuse",
                                subscriber_id=reader.id, send_id=send_id))
        session.execute(update(Send).where(Send.id == send_id).values(
            status="paused", status_reason="paused after 10 server errors in a row: check the login"))
    page = dashboard(client).get_data(as_text=True)
    assert warning_kinds(client) == ["complaints", "paused"]
    assert "complaint rate 2.50% is above 0.1%" in page
    assert "paused after 10 server errors in a row: check the login" in page
    assert f'href="/admin/sends/{send_id}"' in page

    smtp_sink.stop()
    smtp_cache.entries.pop(app.config["NEWSLETTER"].smtp_url, None)  # forget the answer it gave
    assert warning_kinds(client) == ["complaints", "paused", "smtp"]
    assert "the SMTP server is not answering (connection refused)" in dashboard(client).get_data(as_text=True)

    with db.session() as session:
        session.execute(update(BounceMailbox).values(last_polled_at=utcnow() - dt.timedelta(hours=1)))
    assert warning_kinds(client)[-1] == "mailbox"
    config = app.config["NEWSLETTER"]
    assert [w.kind for w in service_warnings(db, replace(config, bounce_mailbox_url=""))] == ["smtp"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_charts_render_in_chromium_without_csp_violations(live_app, browser, admins) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    with live_app.extensions["db"].session() as session:
        news = create_list(session, "news", "News")
        for n in range(5):
            add_reader(session, news.id, n, utcnow() - dt.timedelta(weeks=n * 3))
    playwright, instance = browser
    page = instance.new_page()
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.add_init_script("""window.__violations = [];
        document.addEventListener('securitypolicyviolation',
            e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));""")
    base = live_app.config["NEWSLETTER"].base_url
    page.goto(f"{base}/admin/login")
    page.fill("input[name=email]", ADMIN[0])
    page.fill("input[name=password]", ADMIN[1])
    page.click("button[type=submit]")
    problems.clear()  # the login page's missing favicon is not the dashboard's
    response = page.goto(f"{base}/admin/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_function("window.Chart && Chart.getChart('activity-chart')")
    drawn = page.evaluate("""() => ['readers-chart', 'activity-chart'].map(id => {
        const chart = Chart.getChart(id);
        return {type: chart.config.type, points: chart.data.datasets.map(d => d.data.length),
                labels: chart.data.datasets.map(d => d.label), width: chart.width};
    })""")
    readers, activity = drawn
    assert readers["type"] == "line" and readers["labels"] == ["News"] and readers["points"] == [26]
    assert activity["labels"] == ["confirmed", "unsubscribed", "bounced"] and activity["width"] > 100
    data = json.loads(page.text_content("#dashboard-data"))
    assert data["readers"]["lists"][0]["readers"][-1] == 5
    assert page.evaluate("window.__violations") == []
    assert problems == []
