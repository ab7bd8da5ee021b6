"""/metrics: the exposition parses, and its numbers move after real events (a signup, a
confirmation, an unsubscribe, a batch sent to the SMTP sink, a refusal, a task queued)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update

from service.db import utcnow
from service.ops import metrics as ops_metrics
from service.ops.smtp_metrics import KEY
from service.queue import enqueue
from service.sending.batch import process_batch
from service.sending.models import Send
from service.sending.sender import Sender
from service.subscribers.models import Subscriber
from tests.conftest import process_signups, running_app
from tests.sending.conftest import fill_list, start
from tests.smtp_sink import free_port

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def metrics_app(config, redis_url, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(ops_metrics, "CACHE_SECONDS", 0.0)
    with running_app(replace(config, redis_url=redis_url, send_batch_size=100)) as app:
        yield app


def scrape(client, **headers: str) -> dict[tuple[str, tuple], float]:  # type: ignore[no-untyped-def]
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_database_figures_move_with_signups_confirms_and_unsubscribes(metrics_app) -> None:  # type: ignore[no-untyped-def]
    client = metrics_app.test_client()
    fill_list(metrics_app, 0)
    before = scrape(client)
    assert value(before, "newsletter_metrics_source_up", source="database") == 1
    assert value(before, "newsletter_metrics_source_up", source="redis") == 1
    assert value(before, "newsletter_subscriber_events", kind="signup") == 0

    for address in ("a@example.com", "b@example.com"):
        assert client.post("/api/subscribe", json={"email": address, "list": "news"}).status_code < 300
    assert process_signups(metrics_app) == 2
    service = metrics_app.extensions["subscribers"]
    with metrics_app.extensions["db"].session() as session:
        reader = session.scalars(select(Subscriber).where(Subscriber.email_key == "a@example.com")).one()
        service.confirm(session, reader, None)
        service.unsubscribe(session, reader, reader.subscriptions[0].list_id)
    after = scrape(client)
    assert value(after, "newsletter_subscriber_events", kind="signup") == 2
    assert value(after, "newsletter_subscriber_events", kind="confirm") == 1
    assert value(after, "newsletter_subscriber_events", kind="unsubscribe") == 1
    assert value(after, "newsletter_bounces", kind="hard") == 0


def test_a_real_batch_moves_deliveries_smtp_replies_latency_and_bounces(metrics_app, smtp_sink, redis_url) -> None:  # type: ignore[no-untyped-def]
    client = metrics_app.test_client()
    fill_list(metrics_app, 60)
    send_id = start(metrics_app, queue=False)
    assert value(scrape(client), "newsletter_claimable_deliveries") == 60
    smtp_sink.faults.refuse = {"r7@example.com"}
    smtp_sink.faults.defer_all = 2
    config = metrics_app.config["NEWSLETTER"]
    sender = Sender.build(config, metrics_app.extensions["db"], redis.Redis.from_url(redis_url))
    try:
        process_batch(sender, send_id)
    finally:
        sender.close()
    samples = scrape(client)
    assert value(samples, "newsletter_deliveries", state="sent") == 57
    assert value(samples, "newsletter_deliveries", state="deferred") == 2
    assert value(samples, "newsletter_deliveries", state="bounced") == 1  # the RCPT refusal
    assert value(samples, "newsletter_bounces", kind="hard") == 1
    assert value(samples, "newsletter_claimable_deliveries") == 0
    assert value(samples, "newsletter_smtp_replies_total", **{"class": "2xx"}) == 57
    assert value(samples, "newsletter_smtp_replies_total", **{"class": "4xx"}) == 2
    assert value(samples, "newsletter_smtp_replies_total", **{"class": "5xx"}) == 1
    assert value(samples, "newsletter_smtp_replies_total", **{"class": "connection_error"}) == 0
    assert value(samples, "newsletter_smtp_reply_seconds_count") == 60
    assert value(samples, "newsletter_smtp_reply_seconds_bucket", le="+Inf") == 60
    assert 0 < value(samples, "newsletter_smtp_reply_seconds_sum") < 60
    # Fewer Redis writes than messages: the counts went in a few pipelined pushes.
    assert redis.Redis.from_url(redis_url).hlen(KEY) > 3

    enqueue(config, "newsletter.sweep")
    enqueue(config, "newsletter.sweep")
    assert value(scrape(client), "newsletter_queue_depth") == 2

    # The server gone: each try is a connection error, never a reader's reply.
    fill_list(metrics_app, 3, slug="other", prefix="o")
    other = start(metrics_app, lists=("other",), queue=False)
    smtp_sink.stop()
    sender = Sender.build(config, metrics_app.extensions["db"], redis.Redis.from_url(redis_url))
    try:
        process_batch(sender, other)
    finally:
        sender.close()
    samples = scrape(client)
    assert value(samples, "newsletter_smtp_replies_total", **{"class": "connection_error"}) >= 1
    assert value(samples, "newsletter_smtp_replies_total", **{"class": "2xx"}) == 57

    # A send that ended weeks ago leaves the deliveries gauge (its ledger is not scanned).
    with metrics_app.extensions["db"].session() as session:
        session.execute(update(Send).where(Send.id == send_id).values(
            status="finished", started_at=utcnow() - dt.timedelta(days=30)))
    assert value(scrape(client), "newsletter_deliveries", state="sent") == 0


def test_the_token_is_asked_for_and_a_dead_redis_shows_as_a_source_down(config, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(ops_metrics, "CACHE_SECONDS", 0.0)
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    with running_app(replace(config, metrics_token="scrape-token-123", redis_url=dead_redis)) as app:
        client = app.test_client()
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Basic scrape-token-123"}).status_code == 401
        samples = scrape(client, Authorization="Bearer scrape-token-123")
    assert value(samples, "newsletter_metrics_source_up", source="redis") == 0
    assert value(samples, "newsletter_metrics_source_up", source="database") == 1
    assert ("newsletter_deliveries", (("state", "sent"),)) in samples
    assert ("newsletter_queue_depth", ()) not in samples
