"""List-bombing and rate limits, with Flask-Limiter's counters in a real Redis, counted by the
confirmation emails that really reach an SMTP server."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from service.mail.models import OutboxMessage
from service.subscribers.lists import create_list
from service.subscribers.models import Subscription
from tests.conftest import process_signups, running_app


@pytest.fixture
def limited_app(config, redis_url):  # type: ignore[no-untyped-def]
    with running_app(replace(config, redis_url=redis_url)) as app:
        with app.extensions["db"].session() as session:
            create_list(session, "news", "嵌入式AI简报")
        yield app


def _post_signup(app, ip: str, address: str, slug: str = "news") -> int:  # type: ignore[no-untyped-def]
    client = app.test_client()
    environ = {"REMOTE_ADDR": ip}
    page = client.get(f"/subscribe/{slug}", environ_base=environ).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    response = client.post(f"/subscribe/{slug}", data={"csrf_token": token, "email": address},
                           environ_base=environ)
    return response.status_code


def _post_api(app, ip: str, address: str) -> int:  # type: ignore[no-untyped-def]
    response = app.test_client().post("/api/subscribe", json={"email": address, "list": "news"},
                                      environ_base={"REMOTE_ADDR": ip})
    return response.status_code


def _delivered(app, smtp_sink, expected: int) -> list[str]:  # type: ignore[no-untyped-def]
    """Process the queue, deliver the outbox, and return the recipients the sink received
    (waiting a moment longer for any more than expected)."""
    process_signups(app)
    app.extensions["outbox"].kick()
    smtp_sink.wait_for(expected, timeout=10.0)
    received = smtp_sink.wait_for(expected + 1, timeout=1.0)
    return [rcpt.lower() for message in received for rcpt in message.rcpt_tos]


def test_200_signups_of_one_address_from_many_ips_send_one_email(limited_app, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    addresses = ["victim@example.com", "Victim@Example.com", "VICTIM@example.com"]
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(
            lambda i: _post_signup(limited_app, f"198.51.{i // 250}.{i % 250 + 1}", addresses[i % 3]),
            range(200),
        ))
    assert set(statuses) == {200}  # every attempt looks the same to the sender
    process_signups(limited_app)
    with limited_app.extensions["db"].session() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
    assert _delivered(limited_app, smtp_sink, 1) == ["victim@example.com"]


def test_the_per_ip_limit_answers_429(limited_app) -> None:  # type: ignore[no-untyped-def]
    statuses = [_post_signup(limited_app, "203.0.113.9", f"p{i}@example.com") for i in range(12)]
    assert statuses[:10] == [200] * 10
    assert statuses[10:] == [429, 429]
    # Another address from another IP is not held back by that one.
    assert _post_signup(limited_app, "203.0.113.10", "other@example.com") == 200


def test_the_page_and_the_api_share_one_per_ip_limit(limited_app, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    """From one IP, plus and dot variants of one mailbox through both endpoints: the documented
    10 a minute in all, and the per-address limit (5 an hour) counts them as one mailbox."""
    ip = "203.0.113.77"
    variants = [f"v.i.c.t.i.m+{n}@gmail.com" if n % 2 else f"victim+{n}@gmail.com" for n in range(20)]
    statuses = [
        (_post_signup if n % 2 else _post_api)(limited_app, ip, address)
        for n, address in enumerate(variants)
    ]
    assert statuses.count(429) == 10 and 429 not in statuses[:10]
    # Every variant is a new subscriber, so each may get a confirmation: the mailbox limit
    # let 5 of the 10 allowed through.
    assert len(_delivered(limited_app, smtp_sink, 5)) == 5


def test_the_per_address_limit_drops_quietly(limited_app, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    with limited_app.extensions["db"].session() as session:
        for n in range(8):
            create_list(session, f"list-{n}", f"List {n}")
    statuses = [
        _post_signup(limited_app, f"192.0.2.{n + 1}", "same@example.com", slug=f"list-{n}")
        for n in range(8)
    ]
    assert statuses == [200] * 8  # nothing tells the sender that signups were dropped
    assert _delivered(limited_app, smtp_sink, 1) == ["same@example.com"]
    with limited_app.extensions["db"].session() as session:
        # Five signups got through to become subscriptions; the other three were dropped.
        assert session.scalar(select(func.count()).select_from(Subscription)) == 5
