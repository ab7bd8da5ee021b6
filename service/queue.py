"""The Celery app's settings, and the one function the service uses to enqueue work by task
name (the service never imports worker/)."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from celery import Celery
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from service.config import Config

log = logging.getLogger(__name__)
# What publishing raises while the broker cannot be reached.
BROKER_AWAY = (OperationalError, RedisError, OSError)
# Longer than any batch can take, so Redis does not hand a running task to a second worker.
VISIBILITY_TIMEOUT = 4 * 3600


def broker_url(config: Config) -> str:
    """Redis when configured; otherwise a broker in an SQLite file that needs no server."""
    if config.redis_url:
        return config.redis_url
    return f"sqla+sqlite:///{config.instance_dir / 'celery-broker.sqlite3'}"


def make_celery(config: Config) -> Celery:
    app = Celery("newsletter", broker=broker_url(config), backend=None)
    if config.redis_url:
        app.conf.broker_transport_options = {"visibility_timeout": VISIBILITY_TIMEOUT}
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        timezone="UTC",
        beat_schedule={
            "sweep": {"task": "newsletter.sweep", "schedule": float(config.sweep_seconds)},
        },
    )
    if config.bounce_mailbox_url:
        app.conf.beat_schedule["poll-bounces"] = {
            "task": "newsletter.poll_bounces", "schedule": float(config.bounce_poll_seconds)}
    return app


@lru_cache(maxsize=4)
def _client(url: str) -> Celery:
    return Celery("newsletter-client", broker=url, backend=None, set_as_current=False)


def enqueue(config: Config, task: str, *args: Any, countdown: float | None = None) -> None:
    """Send a task by name, carrying ids only. Call it after the database commit."""
    _client(broker_url(config)).send_task(task, args=list(args), countdown=countdown)


def enqueue_for_running_send(config: Config, task: str, send_id: int) -> bool:
    """enqueue, for a send the database already marks as sending. While the broker cannot be
    reached, the work is left to beat's sweeper, which queues batches for every running send
    once it can; the page or API call that asked still answers. False when it was left."""
    try:
        enqueue(config, task, send_id)
    except BROKER_AWAY as exc:
        log.warning("send %s: %s not queued (%s); the sweeper queues it once the broker is back",
                    send_id, task, exc)
        return False
    return True
