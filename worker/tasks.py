"""Thin tasks: each takes ids, calls a service function, and enqueues what comes next."""

from __future__ import annotations

import logging
import math
from functools import lru_cache

from sqlalchemy import select

from service import create_app
from service.mail.outbox import deliver_due
from service.mail.transport import parse_smtp_urls
from service.queue import enqueue
from service.sending import runner
from service.sending.models import Send
from service.sending.runner import Sender
from service.sending.sends import due_scheduled, start_send
from worker.app import app

log = logging.getLogger(__name__)
# Batches of one send running at once; more would only queue behind the worker processes.
MAX_PARALLEL_BATCHES = 8


@lru_cache(maxsize=1)
def _flask_app():  # type: ignore[no-untyped-def]
    return create_app()


@lru_cache(maxsize=1)
def _sender() -> Sender:
    """One per worker process (made after the fork), kept across batches with its connections."""
    flask_app = _flask_app()
    config = flask_app.config["NEWSLETTER"]
    redis_client = None
    if config.redis_url:
        import redis

        redis_client = redis.Redis.from_url(config.redis_url)
    return Sender.build(config, flask_app.extensions["db"], redis_client)


def _config():  # type: ignore[no-untyped-def]
    return _flask_app().config["NEWSLETTER"]


@app.task(name="newsletter.send_issue")
def send_issue(send_id: int) -> None:
    """Fan a send out into batch tasks (each claims its own rows)."""
    db = _flask_app().extensions["db"]
    with db.session() as session:
        send = session.get(Send, send_id)
        if send is None:
            return
        if send.status in ("draft",):
            start_send(session, send)
        if send.status != "sending":
            return
        queued = runner.count_queued(session, send_id)
        look = runner.outlook(session, send_id)
    config = _config()
    batches = min(MAX_PARALLEL_BATCHES, math.ceil(queued / config.send_batch_size))
    if look.claimable_now and not batches:
        batches = 1
    for _ in range(batches):
        enqueue(config, "newsletter.send_batch", send_id)
    if not batches:
        _after_batch(send_id)


@app.task(name="newsletter.send_batch")
def send_batch(send_id: int) -> None:
    result = runner.process_batch(_sender(), send_id)
    if result.paused:
        log.warning("send %s paused: %s", send_id, result.paused)
    if result.stopped or result.paused:
        return
    _after_batch(send_id, claimed=result.claimed)


def _after_batch(send_id: int, claimed: int = 0) -> None:
    db, config = _flask_app().extensions["db"], _config()
    with db.session() as session:
        look = runner.outlook(session, send_id)
        if look.claimable_now and claimed:
            enqueue(config, "newsletter.send_batch", send_id)
        elif not look.claimable_now and not look.in_flight:
            if look.next_due is not None:
                from service.subscribers.models import utcnow

                wait = max(1.0, (look.next_due - utcnow()).total_seconds())
                enqueue(config, "newsletter.send_batch", send_id, countdown=wait)
            else:
                runner.finish_if_done(session, send_id)


@app.task(name="newsletter.sweep")
def sweep() -> None:
    """Beat's heartbeat: start due schedules, restart sends whose tasks were lost, retry
    deferred rows, and deliver the outbox."""
    db, config = _flask_app().extensions["db"], _config()
    with db.session() as session:
        due, missed = due_scheduled(session)
        for send in missed:
            send.status = "paused"
            send.status_reason = "its scheduled time passed more than an hour ago; resume to send"
        for send in due:
            start_send(session, send)
        started = [send.id for send in due]
        active = list(session.scalars(select(Send.id).where(Send.status == "sending")))
    for send_id in started:
        enqueue(config, "newsletter.send_issue", send_id)
    for send_id in active:
        if send_id in started:
            continue
        with db.session() as session:
            look = runner.outlook(session, send_id)
            if look.claimable_now and not look.in_flight:
                enqueue(config, "newsletter.send_batch", send_id)
            elif not look.claimable_now and not look.in_flight and look.next_due is None:
                runner.finish_if_done(session, send_id)
    deliver_due(db, parse_smtp_urls(config.smtp_url))
