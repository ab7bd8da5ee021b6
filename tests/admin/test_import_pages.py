"""CSV import from the admin: upload checks, a background run that lands every good row and
reports every bad one, progress for htmx, resuming after a crash, and a real Celery worker."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from dataclasses import replace

import pytest
from sqlalchemy import func, select, update

from service.db import utcnow
from service.subscribers import import_jobs
from service.subscribers.import_jobs import ImportJob, ImportRowError
from service.subscribers.lists import create_list
from service.subscribers.models import Subscriber, Subscription
from tests.admin.conftest import ADMIN, EDITOR, csrf_token, log_in
from tests.conftest import running_app

POSTGRES = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
BROKEN = (
    "email,name,city\n"
    "good1@example.com,One,北京\n"
    "not-an-address,Two,\n"
    "\n"
    "GOOD1@example.com,Again,\n"
    "good2@example.com,=1+1,\n"
).encode() + b"bad\xff@example.com,Latin-1,\n" + b"good3@example.com,Three,\n"


def _upload(client, body: bytes, name: str = "people.csv", **extra: str):  # type: ignore[no-untyped-def]
    data = {"csrf_token": csrf_token(client, "/admin/imports"), "list": "news",
            "file": (io.BytesIO(body), name), **extra}
    return client.post("/admin/imports", data=data, content_type="multipart/form-data")


def _wait(app, job_id: int, timeout: float = 60) -> ImportJob:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        with app.extensions["db"].session() as session:
            job = session.get(ImportJob, job_id)
        if job.status in ("done", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def _count(app, model) -> int:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        return session.scalar(select(func.count()).select_from(model))


@POSTGRES
def test_a_broken_file_lands_its_good_rows_and_reports_the_bad(app, client, admins) -> None:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        create_list(session, "news", "News")
    log_in(client, *ADMIN)
    response = _upload(client, BROKEN, confirmed="on")
    assert response.status_code == 302
    job_id = int(response.headers["Location"].rsplit("/", 1)[1])
    job = _wait(app, job_id)  # embedded mode (no Redis): a thread of the web process runs it
    assert (job.status, job.rows_done, job.accepted, job.rejected, job.duplicates) == ("done", 7, 3, 3, 1)
    assert (job.total_rows, job.created, job.subscribed) == (7, 3, 3)
    assert list((app.config["NEWSLETTER"].instance_dir / "imports").iterdir()) == []  # upload gone
    with app.extensions["db"].session() as session:
        readers = dict(session.execute(select(Subscriber.email, Subscriber.name)).all())
        assert session.scalar(select(func.count()).select_from(Subscription).where(
            Subscription.status == "confirmed")) == 3
    assert readers == {"good1@example.com": "One", "good2@example.com": "=1+1",
                       "good3@example.com": "Three"}
    fragment = client.get(f"/admin/imports/{job_id}/progress").get_data(as_text=True)
    assert "hx-trigger" not in fragment and 'value="100"' in fragment  # polling stops when done
    assert 'id="import-rejected">3<' in fragment
    report = client.get(f"/admin/imports/{job_id}/errors.csv")
    rows = list(csv.reader(io.StringIO(report.get_data(as_text=True))))
    assert rows[0] == ["row", "value", "reason"]
    assert [(r[0], r[1]) for r in rows[1:]] == [("3", "not-an-address"), ("4", ""), ("7", "bad\ufffd@example.com")]
    assert "empty row" in rows[2][2] and "UTF-8" in rows[3][2]


@POSTGRES
def test_uploads_that_cannot_be_imported_are_refused_clearly(app, config, admins) -> None:  # type: ignore[no-untyped-def]
    small = replace(config, admin_import_max_mb=2)
    with running_app(small) as application:
        with application.extensions["db"].session() as session:
            create_list(session, "news", "News")
        client = application.test_client()
        log_in(client, *ADMIN)
        cases = [
            (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 400, "not a CSV file"),
            ("email,name\n王小明@example.com,王小明\n".encode("gbk"), 400, "not UTF-8"),
            (b"name,city\nAnna,Berlin\n", 400, "no email column"),
            (b"", 400, "empty"),
            (b"email\n" + b"x" * (3 * 1024 * 1024), 413, "larger than 2 MB"),
        ]
        for body, status, message in cases:
            response = _upload(client, body)
            assert response.status_code == status, message
            assert message in response.get_data(as_text=True)
        # Over the site's usual 1 MB limit but under the import's own: taken.
        big = b"email,name\n" + b"".join(b"reader%05d@example.com,%s\n" % (n, b"n" * 100)
                                          for n in range(9_000))
        assert len(big) > 1024 * 1024
        assert _upload(client, big).status_code == 302
        assert _count(application, ImportJob) == 1
        # No token: refused, nothing stored. An editor: 403.
        no_token = client.post("/admin/imports", content_type="multipart/form-data",
                               data={"list": "news", "file": (io.BytesIO(b"email\na@b.org\n"), "a.csv")})
        assert no_token.status_code == 400 and _count(application, ImportJob) == 1
        editor = application.test_client()
        log_in(editor, *EDITOR)
        assert editor.get("/admin/imports").status_code == 403
        _wait(application, 1)


@POSTGRES
def test_a_crashed_run_resumes_after_its_last_batch_without_counting_twice(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    db, instance = app.extensions["db"], app.config["NEWSLETTER"].instance_dir
    (instance / "imports").mkdir(parents=True, exist_ok=True)
    rows = "".join(f"r{n}@example.com\n" if n % 7 else f"broken{n}\n" for n in range(100))
    (instance / "imports" / "f.csv").write_text("email\n" + rows)
    with db.session() as session:
        news = create_list(session, "news", "News")
        session.flush()
        job = ImportJob(list_id=news.id, filename="f.csv", path="imports/f.csv", total_rows=100)
        session.add(job)
        session.flush()
        job_id = job.id
    real_insert, calls = import_jobs.insert_rows, []

    def crash_on_third(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 3:
            raise SystemExit("worker killed")
        return real_insert(*args, **kwargs)

    monkeypatch.setattr(import_jobs, "insert_rows", crash_on_third)
    with pytest.raises(SystemExit):
        import_jobs.run_import(db, instance, job_id, batch_size=20)
    with db.session() as session:
        job = session.get(ImportJob, job_id)
        assert (job.status, job.batches_done, job.accepted) == ("running", 2, 40)
        assert import_jobs.run_import(db, instance, job_id, batch_size=20) == "busy"  # lease holds
        session.execute(update(ImportJob).values(lease_until=None))  # ...until it runs out
    assert import_jobs.run_import(db, instance, job_id, batch_size=20) == "done"
    with db.session() as session:
        job = session.get(ImportJob, job_id)
        assert (job.rows_done, job.accepted, job.rejected, job.created) == (100, 85, 15, 85)
        lines = session.scalars(select(ImportRowError.line).order_by(ImportRowError.id)).all()
    assert lines == [n + 2 for n in range(0, 100, 7)]
    assert _count(app, Subscriber) == 85


@POSTGRES
def test_a_celery_worker_runs_the_import_on_postgresql_and_redis(config, admins_app_factory) -> None:  # type: ignore[no-untyped-def]
    application, workers = admins_app_factory
    with application.extensions["db"].session() as session:
        create_list(session, "news", "News")
    workers.start_worker()
    client = application.test_client()
    log_in(client, *ADMIN)
    response = _upload(client, BROKEN)
    job_id = int(response.headers["Location"].rsplit("/", 1)[1])
    job = _wait(application, job_id, timeout=90)
    assert (job.status, job.accepted, job.rejected) == ("done", 3, 3)
    assert _count(application, Subscriber) == 3
    assert "celery" in (workers.logs / "worker-0.log").read_text().lower()


@pytest.fixture
def admins_app_factory(config):  # type: ignore[no-untyped-def]
    """The app on Redis (so uploads go to Celery) with its admins, and a worker launcher."""
    from service.admin.users import create_admin_user
    from tests.sending.conftest import RedisServer, Workers

    server = RedisServer()
    server.start()
    on_redis = replace(config, redis_url=server.url)
    workers = Workers(on_redis)
    try:
        with running_app(on_redis) as application:
            with application.extensions["db"].session() as session:
                create_admin_user(session, ADMIN[0], "admin", ADMIN[1])
            yield application, workers
    finally:
        workers.stop_all()
        server.stop()


@POSTGRES
def test_the_sweep_restarts_an_import_whose_run_died_or_whose_task_was_lost(app) -> None:  # type: ignore[no-untyped-def]
    """Embedded mode (no Redis): the restarted run is a thread of the sweeping process."""
    db, instance = app.extensions["db"], app.config["NEWSLETTER"].instance_dir
    config = app.config["NEWSLETTER"]
    (instance / "imports").mkdir(parents=True, exist_ok=True)
    now = utcnow()
    with db.session() as session:
        news = create_list(session, "news", "News")
        session.flush()
        jobs = {}
        for name, status, lease, age in (
            ("died", "running", now - dt.timedelta(seconds=1), 0),
            ("lost", "queued", None, 5),
            ("alive", "running", now + dt.timedelta(minutes=4), 0),
            ("fresh", "queued", None, 0),
        ):
            (instance / "imports" / f"{name}.csv").write_text(f"email\n{name}@example.com\n")
            job = ImportJob(list_id=news.id, filename=f"{name}.csv", path=f"imports/{name}.csv",
                            status=status, lease_until=lease,
                            created_at=now - dt.timedelta(minutes=age))
            session.add(job)
            session.flush()
            jobs[name] = job.id
    assert sorted(import_jobs.revive(config, db, now)) == sorted([jobs["died"], jobs["lost"]])
    assert _wait(app, jobs["died"]).status == "done" and _wait(app, jobs["lost"]).status == "done"
    with db.session() as session:
        assert {name: session.get(ImportJob, job_id).status for name, job_id in jobs.items()} == {
            "died": "done", "lost": "done", "alive": "running", "fresh": "queued"}
    assert _count(app, Subscriber) == 2
