"""/readyz needs no login: a flood of calls must cost one set of checks (one SMTP session to
the relay) per cache period, and a check stuck on a dead server must not be started again
while it still runs."""

from __future__ import annotations

import threading
import time

import pytest

from service.ops import health
from tests.conftest import running_app
from tests.smtp_sink import FaultySMTP

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def smtp_sessions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per connection the SMTP sink accepts from now on."""
    sessions: list[int] = []
    accept = FaultySMTP.connection_made

    def counted(self, transport):  # type: ignore[no-untyped-def]
        sessions.append(1)
        return accept(self, transport)

    monkeypatch.setattr(FaultySMTP, "connection_made", counted)
    return sessions


def test_a_flood_of_readyz_opens_one_smtp_session_per_period_and_still_sees_a_fault(  # type: ignore[no-untyped-def]
        config, smtp_sink, smtp_sessions, monkeypatch) -> None:
    with running_app(config) as app:
        # Many callers at once on a fresh app: one refreshes, the others wait for its answer.
        codes: list[int] = []

        def burst() -> None:
            client = app.test_client()
            codes.extend(client.get("/readyz").status_code for _ in range(5))

        threads = [threading.Thread(target=burst) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert codes == [200] * 40
        assert len(smtp_sessions) == 1

        client = app.test_client()
        smtp_sink.faults.greeting = "554 5.7.1 no service"
        assert client.get("/readyz").status_code == 200  # the cached answer, no new session
        assert len(smtp_sessions) == 1

        monkeypatch.setattr(health, "READY_CACHE_SECONDS", 0.2)
        time.sleep(0.25)  # the cached answer (and the SMTP cache's) is now too old
        response = client.get("/readyz")
        assert response.status_code == 503
        body = response.get_json()
        assert body["failed"] == ["smtp"]
        assert body["checks"]["smtp"]["detail"] == "SMTP reply 554"
        assert len(smtp_sessions) == 2


def test_a_check_that_overruns_is_waited_for_again_not_started_twice(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    release = threading.Event()
    started: list[str] = []

    def stuck(smtp_url: str) -> health.Check:
        started.append(smtp_url)
        release.wait(5)
        return health.Check(True, "ok")

    monkeypatch.setattr(health, "check_smtp", stuck)
    monkeypatch.setattr(health, "CHECK_TIMEOUT_SECONDS", 0.1)
    config, db = app.config["NEWSLETTER"], app.extensions["db"]
    running: dict = {}
    for _ in range(2):
        results = health.readiness(config, db, running)
        assert results["database"].ok
        assert results["smtp"] == health.Check(False, "timed out", 100)
    assert len(started) == 1

    release.set()
    running["smtp"].result(timeout=5)
    assert health.readiness(config, db, running)["smtp"].ok
    assert len(started) == 2  # the last one had finished: a new check, as it should be
