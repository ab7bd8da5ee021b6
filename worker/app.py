"""Build the Celery app from the service's configuration."""

from __future__ import annotations

from celery import Celery

from service.config import load_config


def make_celery() -> Celery:
    config = load_config()
    # Embedded mode has no Redis: an in-memory broker keeps the import working until one is set.
    broker = config.redis_url or "memory://"
    app = Celery("newsletter", broker=broker, backend=None)
    app.conf.update(
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        timezone=config.timezone,
    )
    return app
