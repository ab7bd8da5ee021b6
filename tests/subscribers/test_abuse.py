"""List-bombing and rate limits, with Flask-Limiter's counters in a real Redis."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from service.mail.models import OutboxMessage
from service.subscribers.lists import create_list
from tests.conftest import running_app


@pytest.fixture
def limited_app(config, redis_url):  # type: ignore[no-untyped-def]
    with running_app(replace(config, redis_url=redis_url)) as app:
        with app.extensions["db"].session() as session:
            create_list(session, "news", "嵌入式AI简报")
        yield app


def _post_signup(app, ip: str, address: str) -> int:  # type: ignore[no-untyped-def]
    client = app.test_client()
    environ = {"REMOTE_ADDR": ip}
    page = client.get("/subscribe/news", environ_base=environ).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    response = client.post("/subscribe/news", data={"csrf_token": token, "email": address},
                           environ_base=environ)
    return response.status_code


def test_200_signups_of_one_address_from_many_ips_send_one_email(limited_app, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    addresses = ["victim@example.com", "Victim@Example.com", "VICTIM@example.com"]
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(
            lambda i: _post_signup(limited_app, f"198.51.{i // 250}.{i % 250 + 1}", addresses[i % 3]),
            range(200),
        ))
    assert set(statuses) == {200}  # every attempt looks the same to the sender
    with limited_app.extensions["db"].session() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
    limited_app.extensions["outbox"].kick()
    received = smtp_sink.wait_for(1)
    assert [[a.lower() for a in r.rcpt_tos] for r in received] == [["victim@example.com"]]
    assert len(smtp_sink.wait_for(2, timeout=1.0)) == 1


def test_the_per_ip_limit_answers_429(limited_app) -> None:  # type: ignore[no-untyped-def]
    statuses = [_post_signup(limited_app, "203.0.113.9", f"p{i}@example.com") for i in range(12)]
    assert statuses[:10] == [200] * 10
    assert statuses[10:] == [429, 429]
    # Another address from another IP is not held back by that one.
    assert _post_signup(limited_app, "203.0.113.10", "other@example.com") == 200


def test_the_per_address_limit_drops_quietly(limited_app, redis_url) -> None:  # type: ignore[no-untyped-def]
    import redis

    statuses = [_post_signup(limited_app, f"192.0.2.{i + 1}", "same@example.com") for i in range(8)]
    assert statuses == [200] * 8
    client = redis.Redis.from_url(redis_url)
    keys = [key.decode() for key in client.keys("*signup-address*")]
    client.close()
    assert any("same@example.com" in key for key in keys), keys
