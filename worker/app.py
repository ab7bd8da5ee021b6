"""The Celery app, configured from the service's settings, with the tasks registered."""

from __future__ import annotations

from service.config import load_config
from service.queue import make_celery

app = make_celery(load_config())

import worker.tasks  # noqa: E402,F401  (registers the tasks on app)
