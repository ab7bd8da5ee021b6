"""launch_send and count_recipients: the one call behind the command line, the admin pages
and the API; the count must be exactly what the send then writes."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from service.sending.launch import LaunchError, count_for, count_recipients, launch_send
from service.sending.models import Delivery, Send
from service.subscribers.lists import create_list, get_list
from service.subscribers.models import Subscriber, Subscription

POSTGRES_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _reader(session, email: str, status: str, lists: dict[int, str]) -> None:  # type: ignore[no-untyped-def]
    subscriber = Subscriber(email=email, email_key=email, status=status)
    session.add(subscriber)
    session.flush()
    for list_id, sub_status in lists.items():
        session.add(Subscription(subscriber_id=subscriber.id, list_id=list_id, status=sub_status))


def _lists(app) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """Two lists that share readers, with every kind of reader who must not be counted."""
    with app.extensions["db"].session() as session:
        news, tech, other = (create_list(session, s, s) for s in ("news", "tech", "other"))
        session.flush()
        for n in range(5):
            _reader(session, f"both{n}@example.org", "confirmed",
                    {news.id: "confirmed", tech.id: "confirmed"})
        _reader(session, "news@example.org", "confirmed", {news.id: "confirmed"})
        _reader(session, "tech@example.org", "confirmed", {tech.id: "confirmed"})
        _reader(session, "left-news@example.org", "confirmed",
                {news.id: "unsubscribed", tech.id: "confirmed"})
        _reader(session, "pending@example.org", "pending", {news.id: "pending"})
        _reader(session, "bounced@example.org", "bounced", {news.id: "confirmed"})
        _reader(session, "complained@example.org", "complained", {tech.id: "confirmed"})
        _reader(session, "blocked@example.org", "blocklisted", {news.id: "confirmed"})
        _reader(session, "gone@example.org", "unsubscribed", {news.id: "unsubscribed"})
        _reader(session, "elsewhere@example.org", "confirmed", {other.id: "confirmed"})
        return news.id, tech.id, other.id


@POSTGRES_ONLY
def test_the_count_is_what_the_send_writes(app) -> None:  # type: ignore[no-untyped-def]
    news, tech, _ = _lists(app)
    with app.extensions["db"].session() as session:
        assert count_recipients(session, [news]) == 6
        assert count_recipients(session, [tech]) == 7
        assert count_recipients(session, [news, tech, news]) == 8  # each reader once
        assert count_recipients(session, []) == 0
        assert count_for(session, ["news", "tech"]) == 8
        expected = count_recipients(session, [news, tech])
    launched = launch_send(app, "2026-09-14", ["news", tech])
    assert launched.status == "sending" and launched.total == expected
    with app.extensions["db"].session() as session:
        written = session.scalar(select(func.count()).select_from(Delivery)
                                 .where(Delivery.send_id == launched.send_id))
    assert written == expected


@POSTGRES_ONLY
def test_a_future_time_schedules_and_a_naive_one_reads_in_the_zone(app) -> None:  # type: ignore[no-untyped-def]
    _lists(app)
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(microsecond=0, tzinfo=None)
    launched = launch_send(app, "2026-09-14", ["news"], later.isoformat(), "Asia/Shanghai")
    assert launched.status == "scheduled" and launched.total == 0
    assert launched.scheduled_at == later.replace(tzinfo=dt.UTC) - dt.timedelta(hours=8)
    with app.extensions["db"].session() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0
        news, tech = (get_list(session, slug) for slug in ("news", "tech"))
        news.timezone = "America/New_York"
    # Without a zone given, the list's own; lists in different zones, NEWSLETTER_TIMEZONE.
    ny = launch_send(app, "2026-09-14", ["news"], later.isoformat(), again=True)
    assert ny.scheduled_at == later.replace(tzinfo=ZoneInfo("America/New_York"))
    mixed = launch_send(app, "2026-09-14", ["news", "tech"], later.isoformat(), again=True)
    default = ZoneInfo(app.config["NEWSLETTER"].timezone)
    assert mixed.scheduled_at == later.replace(tzinfo=default)


@POSTGRES_ONLY
def test_refusals_name_what_is_wrong_and_make_nothing(app) -> None:  # type: ignore[no-untyped-def]
    _lists(app)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    cases = [
        (("no-such-issue", ["news"]), {}, "not_found", "no issue"),
        (("2026-09-14", ["nope"]), {}, "not_found", "no list 'nope'"),
        (("2026-09-14", []), {}, "invalid", "at least one list"),
        (("2026-09-14", ["news"]), {"send_at": "next tuesday"}, "invalid", "ISO 8601"),
        (("2026-09-14", ["news"]), {"send_at": later, "timezone": "Mars/Base"}, "invalid",
         "time zone"),
    ]
    for args, kwargs, kind, words in cases:
        with pytest.raises(LaunchError, match=words) as caught:
            launch_send(app, *args, **kwargs)
        assert caught.value.kind == kind
    with app.extensions["db"].session() as session:
        assert session.scalar(select(func.count()).select_from(Send)) == 0
    first = launch_send(app, "2026-09-14", ["news"], later)
    with pytest.raises(LaunchError, match="already went") as caught:
        launch_send(app, "2026-09-14", ["tech", "news"], later)
    assert caught.value.kind == "conflict"
    again = launch_send(app, "2026-09-14", ["news"], later, again=True)
    assert again.send_id != first.send_id


def test_a_lists_schedule_default_gives_its_next_time() -> None:
    from service.sending.launch import next_default_time
    from service.subscribers.models import MailingList

    shanghai = ZoneInfo("Asia/Shanghai")
    # Wednesday 2026-11-25, 10:00 in Shanghai.
    now = dt.datetime(2026, 11, 25, 10, 0, tzinfo=shanghai)
    weekly = MailingList(slug="w", name="w", timezone="Asia/Shanghai", send_weekday=0,
                         send_time="08:00")
    assert next_default_time(weekly, "UTC", now) == dt.datetime(2026, 11, 30, 8, 0, tzinfo=shanghai)
    daily = MailingList(slug="d", name="d", timezone="", send_weekday=None, send_time="09:30")
    assert next_default_time(daily, "UTC", now) == dt.datetime(2026, 11, 25, 9, 30, tzinfo=dt.UTC)
    later_today = MailingList(slug="t", name="t", timezone="Asia/Shanghai", send_weekday=2,
                              send_time="18:00")
    assert next_default_time(later_today, "UTC", now) == now.replace(hour=18)
    assert next_default_time(MailingList(slug="n", name="n", send_time=""), "UTC", now) is None

