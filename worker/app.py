"""The Celery app, configured from the service's settings, with the tasks registered."""

from __future__ import annotations

import worker.tasks  # noqa: F401  (defines the shared tasks, which bind to the app below)
from service.config import load_config
from service.ops.logs import install_celery_logging
from service.queue import make_celery

_config = load_config()
install_celery_logging(_config.log_format)  # NEWSLETTER_LOG_FORMAT, task and send ids
app = make_celery(_config)
