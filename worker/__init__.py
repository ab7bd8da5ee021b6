"""The Celery app shim: ``celery -A worker worker``. Tasks are thin; services do the work."""

from worker.app import app

celery = app

__all__ = ["app", "celery"]
