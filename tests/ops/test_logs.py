"""NEWSLETTER_LOG_FORMAT=json: one JSON object per line, with the send and delivery ids on the
send path, in this process and in a real Celery worker."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest

from service.ops.logs import clear_context, configure_logging, init_web_logging, log_context
from service.sending.batch import process_batch
from service.sending.sender import Sender
from tests.conftest import running_app
from tests.sending.conftest import Workers, fill_list, start, wait_for_status


@pytest.fixture
def json_log():  # type: ignore[no-untyped-def]
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    clear_context()  # ids a batch run earlier in this thread left (a task's end clears them)
    configure_logging("json", logging.INFO, stream)
    yield stream
    root.handlers, root.level = handlers, level


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_lines_carry_the_context_and_extra_fields(json_log) -> None:  # type: ignore[no-untyped-def]
    log = logging.getLogger("newsletter.test")
    with log_context(send_id=12, claim="abc"):
        log.warning("with context %s", "here", extra={"delivery_id": 345})
    log.info("without")
    first, second = lines(json_log)
    assert first["message"] == "with context here" and first["level"] == "WARNING"
    assert first["logger"] == "newsletter.test" and first["time"].endswith("+00:00")
    assert (first["send_id"], first["delivery_id"], first["claim"]) == (12, 345, "abc")
    assert "send_id" not in second


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_failing_message_logs_its_send_and_delivery(config, smtp_sink, json_log) -> None:  # type: ignore[no-untyped-def]
    with running_app(replace(config, send_batch_size=10)) as app:
        fill_list(app, 3)
        send_id = start(app, queue=False)
        sender = Sender.build(app.config["NEWSLETTER"], app.extensions["db"])
        real, calls = sender.draft, []

        def failing(send, templates, row, date):  # type: ignore[no-untyped-def]
            calls.append(row.delivery_id)
            if len(calls) == 2:
                raise RuntimeError("broken key")
            return real(send, templates, row, date)

        sender.draft = failing  # type: ignore[method-assign]
        process_batch(sender, send_id)
        sender.close()
    failure = [entry for entry in lines(json_log) if "building or sending failed" in entry["message"]]
    assert len(failure) == 1
    assert failure[0]["send_id"] == send_id and failure[0]["delivery_id"] == calls[1]
    assert len(failure[0]["claim"]) == 32  # the batch's claim token
    assert "RuntimeError: broken key" in failure[0]["exception"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_celery_worker_logs_json_with_task_and_send_ids(send_config) -> None:  # type: ignore[no-untyped-def]
    with running_app(send_config) as app:
        fill_list(app, 5)
        workers = Workers(send_config)
        workers.env["NEWSLETTER_LOG_FORMAT"] = "json"
        workers.start_worker()
        try:
            send_id = start(app)
            wait_for_status(app, send_id, ("finished",), timeout=30)
        finally:
            workers.stop_all()
    text = (workers.logs / "worker-0.log").read_text()
    entries = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    # Every log record is JSON; what is not is the start-up banner Celery prints (not a log
    # record; --quiet drops it), never a record in Celery's own "[date: LEVEL/process]" form.
    assert entries and not re.search(r"^\[\d{4}-\d\d-\d\d [^]]*: (INFO|WARNING|ERROR)", text, re.M)
    assert any(e["logger"].startswith("celery") for e in entries)
    batch_lines = [e for e in entries if e.get("task") == "newsletter.send_batch"]
    assert batch_lines, text
    assert all(e["send_id"] == send_id and e["task_id"] for e in batch_lines)


@contextmanager
def bare_logging() -> Iterator[None]:
    """Logging as gunicorn leaves it: no handler on the root logger (pytest's own, added for
    each test phase, set aside), which stays at WARNING, and nothing set on ``service``."""
    root, app_logger = logging.getLogger(), logging.getLogger("service")
    saved = root.handlers[:], root.level, app_logger.handlers[:], app_logger.level
    root.handlers, app_logger.handlers = [], []
    root.setLevel(logging.WARNING)
    app_logger.setLevel(logging.NOTSET)
    try:
        yield
    finally:
        root.handlers, app_logger.handlers = saved[0], saved[2]
        root.setLevel(saved[1])  # setLevel, not the attribute: it clears the level caches
        app_logger.setLevel(saved[3])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_text_logs_write_the_audit_log_to_stderr_once(config, capsys) -> None:  # type: ignore[no-untyped-def]
    assert config.log_format == "text"
    with bare_logging():
        with running_app(config) as app, running_app(config):  # two apps: still one handler
            app.logger.info("Flask's own logger is the app's")  # Flask adds no handler of its own
            logging.getLogger("service.admin.audit").info("erased reader %s", 42)
        logging.getLogger("service.sending.batch").debug("below INFO: not written")
        handlers = logging.getLogger("service").handlers[:]
    err = capsys.readouterr().err
    audit = [line for line in err.splitlines() if "service.admin.audit" in line]
    assert len(audit) == 1 and audit[0].endswith(" INFO service.admin.audit: erased reader 42")
    assert err.count("Flask's own logger") == 1 and "below INFO" not in err
    assert len(handlers) == 1


def test_text_logs_add_no_handler_where_one_is_set_up(json_log, capsys) -> None:  # type: ignore[no-untyped-def]
    # The root's handler (a --log-config's, or JSON mode's) takes the records: no second copy.
    app_logger = logging.getLogger("service")
    handlers = app_logger.handlers[:]
    init_web_logging("text")
    logging.getLogger("service.admin.audit").info("exported %d readers", 3)
    assert app_logger.handlers == handlers
    assert [e["message"] for e in lines(json_log)] == ["exported 3 readers"]
    assert "exported" not in capsys.readouterr().err
