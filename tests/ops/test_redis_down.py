"""Redis configured but away: the pages and the API still answer, rate limits hold in each
process, and what the database holds (a started send) is queued by the sweeper later."""

from __future__ import annotations

import html
import re
import socket
from dataclasses import replace

import pytest
from sqlalchemy import select

from service.admin.users import create_admin_user
from service.sending.models import Send
from service.subscribers.lists import create_list
from tests.admin.conftest import ADMIN, csrf_token, log_in
from tests.conftest import running_app
from tests.sending.conftest import fill_list

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
SLUG = "2026-09-14"
CONFIRMATION = re.compile(r'name="confirmation" value="([^"]+)"')


def _port_nobody_listens_on() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def app(config):  # type: ignore[no-untyped-def]
    away = f"redis://127.0.0.1:{_port_nobody_listens_on()}/0"
    with running_app(replace(config, redis_url=away, signup_rate_limit="3/minute")) as application:
        yield application


def _signup(app, ip: str, address: str) -> int:  # type: ignore[no-untyped-def]
    client = app.test_client()
    environ = {"REMOTE_ADDR": ip}
    token = csrf_token(client, "/subscribe/news")
    return client.post("/subscribe/news", data={"csrf_token": token, "email": address},
                       environ_base=environ).status_code


def test_signup_answers_and_its_limit_holds_in_the_process(app) -> None:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        create_list(session, "news", "News")
    statuses = [_signup(app, "203.0.113.9", f"reader{n}@example.com") for n in range(5)]
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3:] == [429, 429]  # the per-IP limit, counted in this process meanwhile
    assert _signup(app, "203.0.113.10", "other@example.com") == 200


def test_an_admin_send_starts_and_waits_for_the_sweeper(app) -> None:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        create_admin_user(session, ADMIN[0], "admin", ADMIN[1])
    news = fill_list(app, 4)
    client = app.test_client()
    log_in(client, *ADMIN)
    token = csrf_token(client, f"/admin/issues/{SLUG}/send")
    review = client.post(f"/admin/issues/{SLUG}/send",
                         data={"csrf_token": token, "lists": [str(news)], "when": "now"})
    assert review.status_code == 200
    confirmation = html.unescape(CONFIRMATION.search(review.get_data(as_text=True)).group(1))  # type: ignore[union-attr]
    token = csrf_token(client, f"/admin/issues/{SLUG}/send")
    answer = client.post(f"/admin/issues/{SLUG}/send/confirm",
                         data={"csrf_token": token, "confirmation": confirmation})
    assert answer.status_code == 302 and answer.headers["Location"] == "/admin/sends/1"
    with app.extensions["db"].session() as session:
        [send] = session.scalars(select(Send)).all()
        assert (send.status, send.total) == ("sending", 4)
    page = client.get("/admin/sends/1").get_data(as_text=True)
    assert "queue" in page.lower() and "sweep" in page.lower()


def test_an_api_send_is_created_and_started_while_redis_is_away(app) -> None:  # type: ignore[no-untyped-def]
    from service.api.tokens import create_token

    with app.extensions["db"].session() as session:
        _row, token = create_token(session, "ops", "admin", created_by="tests")
    fill_list(app, 3)
    answer = app.test_client().post(
        "/api/sends", json={"issue": SLUG, "lists": ["news"], "send_at": None},
        headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    assert answer.get_json()["status"] == "sending"


def test_a_csv_import_runs_in_the_web_process_while_redis_is_away(app) -> None:  # type: ignore[no-untyped-def]
    import io
    import time

    from service.subscribers.import_jobs import ImportJob

    with app.extensions["db"].session() as session:
        create_admin_user(session, ADMIN[0], "admin", ADMIN[1])
        create_list(session, "news", "News")
    client = app.test_client()
    log_in(client, *ADMIN)
    body = b"email,name\none@example.com,One\ntwo@example.com,Two\n"
    answer = client.post("/admin/imports", content_type="multipart/form-data", data={
        "csrf_token": csrf_token(client, "/admin/imports"), "list": "news",
        "file": (io.BytesIO(body), "people.csv")})
    assert answer.status_code == 302
    job_id = int(answer.headers["Location"].rsplit("/", 1)[1])
    deadline = time.monotonic() + 30
    while True:
        with app.extensions["db"].session() as session:
            job = session.get(ImportJob, job_id)
        if job.status in ("done", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert (job.status, job.accepted) == ("done", 2)
