"""Thin tasks: each takes ids and calls one service function. Registered by name with
``shared_task``, so this module needs no Celery app (worker.app imports it, not the reverse).
"""

from __future__ import annotations

import logging
from functools import lru_cache

from celery import shared_task
from celery.signals import worker_process_shutdown

from service import create_app
from service.bounces.mailbox import poll_mailbox
from service.sending import orchestration
from service.sending.batch import process_batch
from service.sending.control import redis_client
from service.sending.sender import Sender
from service.webhooks.delivery import deliver_all_due

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _flask_app():  # type: ignore[no-untyped-def]
    return create_app()


def _db_config():  # type: ignore[no-untyped-def]
    app = _flask_app()
    return app.extensions["db"], app.config["NEWSLETTER"]


@lru_cache(maxsize=1)
def _sender() -> Sender:
    """One per worker process (made after the fork), kept across batches."""
    db, config = _db_config()
    return Sender.build(config, db, redis_client(config))


@worker_process_shutdown.connect
def _close_connections(**_kwargs) -> None:  # type: ignore[no-untyped-def]
    if _sender.cache_info().currsize:
        _sender().close()


@shared_task(name="newsletter.send_issue")
def send_issue(send_id: int) -> None:
    orchestration.fan_out(*_db_config(), send_id)


@shared_task(name="newsletter.send_batch")
def send_batch(send_id: int) -> None:
    result = process_batch(_sender(), send_id)
    if result.paused:
        log.warning("send %s paused: %s", send_id, result.paused)
    if not (result.stopped or result.paused):
        orchestration.after_batch(*_db_config(), send_id, claimed=result.claimed)


@shared_task(name="newsletter.sweep")
def sweep() -> None:
    orchestration.sweep(*_db_config(), _flask_app().extensions["subscribers"])


@shared_task(name="newsletter.poll_bounces")
def poll_bounces() -> None:
    poll_mailbox(*_db_config())


@shared_task(name="newsletter.import_csv")
def import_csv(job_id: int) -> None:
    """An admin's CSV import. A redelivered task whose job another run still holds comes
    back when that run's lease ends, and resumes after its last committed batch."""
    from service.queue import enqueue
    from service.subscribers import import_jobs

    db, config = _db_config()
    if import_jobs.run_import(db, config.instance_dir, job_id) == "busy":
        with db.session() as session:
            wait = import_jobs.lease_left(session, job_id)
        if wait is not None:
            enqueue(config, import_jobs.TASK, job_id, countdown=wait + 1)


@shared_task(name="newsletter.deliver_webhooks")
def deliver_webhooks() -> None:
    db, config = _db_config()
    deliver_all_due(db, config.webhook_timeout_seconds,
                    allow_private=config.webhook_allow_private)
