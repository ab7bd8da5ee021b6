"""The Celery app shim: ``celery -A worker worker``. Tasks call service functions and stay thin."""

from worker.app import make_celery

app = make_celery()
celery = app

__all__ = ["app", "celery"]
