"""/healthz and /readyz against real PostgreSQL, Redis and an SMTP sink, and with each of
Redis and SMTP unreachable. (Few tests, many apps: a migrated database costs more than the
checks.)"""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.conftest import running_app
from tests.smtp_sink import free_port

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def ready(config):  # type: ignore[no-untyped-def]
    with running_app(config) as app:
        response = app.test_client().get("/readyz")
    return response.status_code, response.get_json()


def test_healthz_and_readyz_answer_without_a_session_when_all_is_up(client, config, redis_url) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "ok\n"
    assert response.headers["Cache-Control"] == "no-store"

    status, body = ready(replace(config, redis_url=redis_url))
    assert status == 200
    assert body["status"] == "ok" and body["failed"] == []
    assert {name: check["detail"] for name, check in body["checks"].items()} == {
        "database": "ok", "redis": "ok", "smtp": "ok"}

    status, body = ready(config)  # no Redis configured: nothing to check
    assert status == 200
    assert body["checks"]["redis"] == {"ok": True, "detail": "not configured", "ms": 0}

    # One failover server down, the other up: ready.
    status, body = ready(replace(config, smtp_url=f"smtp://127.0.0.1:{free_port()},{config.smtp_url}"))
    assert status == 200, body


def test_readyz_is_503_naming_what_cannot_be_reached_and_shows_no_secret(config, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    status, body = ready(replace(config, redis_url=f"redis://:hunter2secret@127.0.0.1:{free_port()}/0"))
    assert status == 503
    assert body["status"] == "unavailable" and body["failed"] == ["redis"]
    assert body["checks"]["database"]["ok"] and body["checks"]["smtp"]["ok"]
    assert "hunter2secret" not in str(body)

    status, body = ready(replace(config, smtp_url=f"smtp://mailer:s3cret-pass@127.0.0.1:{free_port()}"))
    assert status == 503
    assert body["failed"] == ["smtp"]
    assert body["checks"]["smtp"]["detail"] == "connection refused"
    assert "s3cret" not in str(body) and "mailer" not in str(body)

    smtp_sink.faults.greeting = "554 5.7.1 no service"
    status, body = ready(config)
    assert status == 503
    assert body["failed"] == ["smtp"]
    assert body["checks"]["smtp"]["detail"] == "SMTP reply 554"
