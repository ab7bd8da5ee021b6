"""Outgoing webhooks against a real HTTP server: each event is recorded with its change and
posted signed; a 500 or a timeout is retried on the schedule; after the last attempt the
delivery is failed, with every attempt in its log; a changed body does not verify.

The receiver listens on 127.0.0.1, so these tests allow private addresses
(NEWSLETTER_WEBHOOK_ALLOW_PRIVATE); test_webhook_egress.py shows what happens without."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from service.bounces.events import BounceReport, Bounces, record_bounce
from service.bounces.locate import Clues
from service.db import utcnow
from service.sending.models import Send
from service.sending.orchestration import finish_if_done
from service.sending.states import SendStatus
from service.webhooks import delivery
from service.webhooks.endpoints import EndpointError, create_endpoint, retry_delivery
from service.webhooks.models import WEBHOOK_EVENTS, WebhookDelivery
from service.webhooks.outbox import record_event
from tests.api.conftest import POSTGRES_ONLY, bearer
from tests.api.receiver import Receiver
from tests.conftest import running_app


@pytest.fixture
def config(config):  # type: ignore[no-untyped-def]
    return dataclasses.replace(config, webhook_allow_private=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


def _endpoint(app, receiver: Receiver, events=WEBHOOK_EVENTS, path: str = "/hooks") -> str:  # type: ignore[no-untyped-def]
    """An endpoint on the receiver; answers its secret."""
    with app.extensions["db"].session() as session:
        _row, receiver.secrets[path] = create_endpoint(
            session, receiver.url(path), events,
            allow_private=app.config["NEWSLETTER"].webhook_allow_private)
        return receiver.secrets[path]


def _deliver(app, **kwargs) -> delivery.Round:  # type: ignore[no-untyped-def]
    """One round, under the app's egress setting (as the worker's task runs it)."""
    return delivery.deliver_due(app.extensions["db"],
                                allow_private=app.config["NEWSLETTER"].webhook_allow_private,
                                **kwargs)


def _deliveries(app) -> list[WebhookDelivery]:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


@POSTGRES_ONLY
def test_every_event_reaches_the_receiver_signed(app, client, tokens, lists, receiver) -> None:  # type: ignore[no-untyped-def]
    secret = _endpoint(app, receiver)
    _endpoint(app, receiver, ["send_finished"], "/finished-only")
    admin = bearer(tokens["admin"])
    reader = client.post("/api/subscribers", headers=admin, json={
        "email": "ada@example.org", "lists": ["news", "notes"]}).json
    client.patch(f"/api/subscribers/{reader['id']}", headers=admin, json={"status": "unsubscribed"})
    client.post("/api/subscribers", headers=admin,
                json={"email": "bob@example.org", "lists": ["notes"], "status": "confirmed"})
    db = app.extensions["db"]
    bounces = Bounces.from_config(app.config["NEWSLETTER"])
    with db.session() as session:
        for key, kind, email in (("b1", "hard", "ada@example.org"),
                                 ("c1", "complaint", "bob@example.org")):
            record_bounce(session, bounces, BounceReport(
                source="test", dedup_key=key, kind=kind, reason="unknown-user",
                clues=Clues(recipient=email, trusted_recipient=True)))
        send = Send(issue_slug="2026-09-14", status=SendStatus.SENDING, content_hash="x",
                    subject="s", html="", text="", tokens="{}", mail_from="a@example.org",
                    list_ids=str(lists["news"]))
        session.add(send)
        session.flush()
        assert finish_if_done(session, send.id)
    # A rolled-back change leaves no delivery behind.
    with pytest.raises(RuntimeError), db.session() as session:
        record_event(session, "confirm", {"subscriber": None})
        raise RuntimeError("the change failed")

    allow_private = app.config["NEWSLETTER"].webhook_allow_private
    assert delivery.deliver_all_due(db, timeout=2, allow_private=allow_private) == 10
    assert len(_deliveries(app)) == 10
    assert all(r.verified for r in receiver.received)
    events = sorted(r.headers["x-newsletter-event"] for r in receiver.received)
    # Ada left two lists; Bob's complaint took him off his one list too.
    assert events == sorted(["subscribe", "confirm", "unsubscribe", "unsubscribe", "confirm",
                             "bounce", "complaint", "unsubscribe", "send_finished",
                             "send_finished"])
    only = [r.payload["event"] for r in receiver.received if r.path == "/finished-only"]
    assert only == ["send_finished"]
    by_event = {r.payload["event"]: r for r in receiver.received}
    subscribe = by_event["subscribe"].payload
    assert subscribe["data"]["subscriber"]["email"] == "ada@example.org"
    assert subscribe["data"]["list"] == "news"
    assert subscribe["id"] == int(by_event["subscribe"].headers["x-newsletter-delivery"])
    bounce = by_event["bounce"].payload["data"]
    assert (bounce["kind"], bounce["action"]) == ("hard", "suppressed")
    assert by_event["send_finished"].payload["data"]["send"]["issue"] == "2026-09-14"
    assert {d.status for d in _deliveries(app)} == {"delivered"}

    # What a receiver must refuse: a changed body, another secret, an old timestamp.
    sample = by_event["subscribe"]
    stamp, signed = sample.headers["x-newsletter-timestamp"], sample.headers["x-newsletter-signature"]
    forged = sample.body.replace(b"ada@example.org", b"eve@example.org")
    assert delivery.verify(secret, stamp, sample.body, signed)
    assert not delivery.verify(secret, stamp, forged, signed)
    assert not delivery.verify("whsec_other", stamp, sample.body, signed)
    assert not delivery.verify(secret, str(int(stamp) - 3600), sample.body,
                               delivery.signature(secret, str(int(stamp) - 3600),
                                                  sample.body))
    assert json.loads(sample.body)["event"] == "subscribe"


@POSTGRES_ONLY
def test_a_500_is_retried_and_then_delivered(app, receiver) -> None:  # type: ignore[no-untyped-def]
    _endpoint(app, receiver)
    receiver.script = ["500"]
    db = app.extensions["db"]
    with db.session() as session:
        record_event(session, "confirm", {"subscriber": {"id": 1, "email": "a@example.org"}})
    first = _deliver(app, timeout=2)
    assert (first.attempted, first.delivered) == (1, 0)
    [row] = _deliveries(app)
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, 500)
    wait = row.next_attempt_at - utcnow()
    assert dt.timedelta(seconds=50) < wait <= delivery.RETRY_DELAYS[0]
    assert _deliver(app, timeout=2).attempted == 0  # not due yet
    second = _deliver(app, timeout=2, now=utcnow() + delivery.RETRY_DELAYS[0])
    assert second.delivered == 1
    [row] = _deliveries(app)
    assert row.status == "delivered" and row.delivered_at is not None
    assert [a["status_code"] for a in row.attempt_log] == [500, 204]
    assert "receiver broke" in row.attempt_log[0]["error"]
    first_post, second_post = receiver.received
    assert first_post.body == second_post.body and first_post.verified and second_post.verified
    assert first_post.headers["x-newsletter-delivery"] == second_post.headers["x-newsletter-delivery"]


@POSTGRES_ONLY
def test_after_the_last_attempt_it_fails_with_every_attempt_logged(app, receiver) -> None:  # type: ignore[no-untyped-def]
    _endpoint(app, receiver, ["bounce"])
    receiver.script = ["timeout"] + ["500"] * (delivery.MAX_ATTEMPTS - 1)
    receiver.hang_seconds = 1.0
    db = app.extensions["db"]
    with db.session() as session:
        record_event(session, "bounce", {"kind": "hard"})
        record_event(session, "confirm", {})  # not an event this endpoint wants
    now, waits = utcnow(), []
    started = time.monotonic()
    for _attempt in range(delivery.MAX_ATTEMPTS):
        assert _deliver(app, timeout=0.3, now=now).attempted == 1
        assert _deliver(app, timeout=0.3, now=now).attempted == 0  # not due yet
        [row] = _deliveries(app)
        waits.append(row.next_attempt_at - now)
        now = row.next_attempt_at  # the clock moves on to the retry
    assert time.monotonic() - started < 5  # the timeout bounded the hung attempt
    # Exponential backoff: 1 min, 5 min, 30 min, 2 h, 12 h (give or take the attempt's time).
    for wait, delay in zip(waits, delivery.RETRY_DELAYS, strict=False):
        assert delay <= wait < delay + dt.timedelta(seconds=5)
    [row] = _deliveries(app)
    assert (row.status, row.attempts, row.last_status_code) == ("failed", 6, 500)
    assert len(row.attempt_log) == delivery.MAX_ATTEMPTS
    assert row.attempt_log[0]["status_code"] is None and "timed out" in row.attempt_log[0]["error"]
    assert _deliver(app, now=now + dt.timedelta(days=30)).attempted == 0
    assert len(receiver.received) == delivery.MAX_ATTEMPTS
    # An operator may send it round once more.
    with db.session() as session:
        assert retry_delivery(session, row.id)
    assert _deliver(app, timeout=2).delivered == 1


def test_only_http_urls_can_receive_webhooks() -> None:
    for url in ("file:///etc/passwd", "ftp://example.org/x", "javascript:alert(1)",
                "http://", "https://user:pass@example.org/", "https://exa mple.org/"):
        with pytest.raises(EndpointError):
            create_endpoint(None, url, ["confirm"])  # type: ignore[arg-type]
    with pytest.raises(EndpointError, match="unknown events"):
        create_endpoint(None, "https://example.org/hook", ["signup"])  # type: ignore[arg-type]
    refused = delivery.post("file:///etc/passwd", b"{}", {}, 1)
    assert refused.status_code is None and "refused" in refused.error and refused.final


@POSTGRES_ONLY
def test_a_commit_and_the_sweep_wake_the_deliverer_and_the_sweep_prunes(config, redis_url) -> None:  # type: ignore[no-untyped-def]
    import redis as redis_lib

    queued = redis_lib.Redis.from_url(redis_url)
    with_redis = dataclasses.replace(config, redis_url=redis_url)

    def tasks() -> list[str]:
        return [json.loads(m)["headers"]["task"] for m in queued.lrange("celery", 0, -1)]

    with running_app(with_redis) as app:
        db = app.extensions["db"]
        with db.session() as session:
            create_endpoint(session, "http://127.0.0.1:9/nothing-listens", ["confirm"],
                            allow_private=with_redis.webhook_allow_private)
        assert tasks() == []
        with db.session() as session:
            record_event(session, "confirm", {})
        assert tasks() == ["newsletter.deliver_webhooks"]  # the hint, after the commit
        queued.delete("celery")
        with db.session() as session:
            old = utcnow() - dt.timedelta(days=with_redis.webhook_retention_days + 1)
            [row] = session.scalars(select(WebhookDelivery))
            session.add(WebhookDelivery(endpoint_id=row.endpoint_id, event="confirm", payload={},
                                        status="delivered", attempts=1, last_error="",
                                        attempt_log=[], created_at=old, next_attempt_at=old))
        delivery.sweep(db, with_redis)
        assert tasks() == ["newsletter.deliver_webhooks"]  # the pending row is due
        assert [d.status for d in _deliveries(app)] == ["pending"]  # the old one is gone
    queued.close()
