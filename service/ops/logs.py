"""Logging for web, worker and beat: text, or one JSON object per line
(``NEWSLETTER_LOG_FORMAT=json``) with the time, level, logger, message and, where known, the
send, delivery, claim and task ids.

The ids come from a context variable that the code on the send path sets as it learns them
(the Celery task's arguments, the batch's claim, the delivery being sent) and from
``extra={...}`` on a log call; a filter copies them onto every record.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CONTEXT_FIELDS = ("send_id", "delivery_id", "claim", "batch", "task", "task_id")
_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "newsletter_log_context", default=None)


def set_context(**fields: Any) -> None:
    """Add ids to what every later log line of this thread or task carries (a few hundred
    nanoseconds: cheap enough for once per message)."""
    current = _context.get()
    _context.set({**current, **fields} if current else fields)


def clear_context() -> None:
    _context.set(None)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """The ids for a block; what was there before comes back after it."""
    current = _context.get()
    token = _context.set({**current, **fields} if current else fields)
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Copies the context's ids onto each record (``extra=`` given to the call wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = _context.get()
        if current:
            for name, value in current.items():
                if not hasattr(record, name):
                    setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def make_handler(log_format: str, stream: Any = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(ContextFilter())
    return handler


def configure_logging(log_format: str, level: int | str = logging.INFO, stream: Any = None) -> None:
    """One handler on the root logger; gunicorn's and Celery's loggers hand their records to
    it too, so everything the process logs has one format."""
    handler = make_handler(log_format, stream)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in ("gunicorn.error", "gunicorn.access", "celery", "celery.task", "celery.redirected"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True


def init_web_logging(log_format: str) -> None:
    """The web app: JSON when asked for; text keeps whatever the server set up (gunicorn's
    own handlers, Flask's default) and makes sure the app's own INFO lines (the admin audit
    log among them) are written somewhere."""
    if log_format == "json":
        configure_logging("json")
    else:
        ensure_app_logging()


APP_LOGGER = "service"


def ensure_app_logging() -> None:
    """gunicorn configures only its own loggers: the root stays at WARNING with no handler,
    which would drop every ``service`` INFO record. Lower ``service`` to INFO unless a level
    was set, and give it a text handler on stderr unless a handler on the way up (the root's,
    one set up before) already takes its records, so no line is written twice."""
    from flask.logging import has_level_handler

    logger = logging.getLogger(APP_LOGGER)
    if logger.level == logging.NOTSET and logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    if not has_level_handler(logger):
        logger.addHandler(make_handler("text"))


def install_celery_logging(log_format: str) -> None:
    """Worker and beat: Celery's own log set-up is replaced by ours (setup_logging signal), and
    each task carries its id and, on the send path, its send's id."""
    from celery.signals import setup_logging, task_postrun, task_prerun

    def setup(loglevel: Any = logging.INFO, logfile: Any = None, **_kwargs: Any) -> None:
        configure_logging(log_format, loglevel or logging.INFO)

    def before(task_id: str = "", task: Any = None, args: Any = None, **_kwargs: Any) -> None:
        fields: dict[str, Any] = {"task": getattr(task, "name", None), "task_id": task_id}
        if task is not None and task.name in SEND_TASKS and args:
            fields["send_id"] = args[0]
        clear_context()
        set_context(**fields)

    def after(**_kwargs: Any) -> None:
        clear_context()

    if log_format == "json":  # text: Celery's own set-up, as without this module
        setup_logging.connect(setup, weak=False)
    task_prerun.connect(before, weak=False)
    task_postrun.connect(after, weak=False)


# Tasks whose first argument is a send's id.
SEND_TASKS = frozenset({"newsletter.send_issue", "newsletter.send_batch"})
