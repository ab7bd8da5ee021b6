"""The Celery app, configured from the service's settings, with the tasks registered."""

from __future__ import annotations

import worker.tasks  # noqa: F401  (defines the shared tasks, which bind to the app below)
from service.config import load_config
from service.queue import make_celery

app = make_celery(load_config())
