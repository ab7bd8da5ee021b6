"""Real Celery worker processes, a Redis server of the tests' own (so it can be restarted),
and helpers to fill a list and start a send."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from service.queue import enqueue
from service.sending.sends import create_send, start_send
from service.subscribers.importer import import_csv
from service.subscribers.lists import create_list
from tests.conftest import REQUIRE_SERVICES, running_app
from tests.smtp_sink import free_port

ROOT = Path(__file__).resolve().parents[2]


class RedisServer:
    """A redis-server process that keeps nothing on disk, as the machine's does."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            message = "redis-server is not installed"
            if REQUIRE_SERVICES:
                pytest.fail(message)
            pytest.skip(message)
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis.from_url(self.url)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def send_config(config, redis_server):  # type: ignore[no-untyped-def]
    return replace(
        config, redis_url=redis_server.url, send_retry_base_seconds=1, send_retry_max_seconds=2,
        sweep_seconds=1, send_batch_size=100, send_lease_seconds=20,
        bounce_domain="bounces.example.org",
    )


def env_for(config) -> dict[str, str]:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    for name in ("env", "database_url", "redis_url", "smtp_url", "base_url", "secret_key",
                 "send_retry_base_seconds", "send_retry_max_seconds", "sweep_seconds",
                 "send_batch_size", "send_lease_seconds", "send_max_consecutive_errors",
                 "instance_dir", "send_rate", "bounce_domain", "smtp_max_connections",
                 "dkim_selector", "dkim_key_file", "dkim_ed25519_selector",
                 "dkim_ed25519_key_file", "dkim_domain", "inbound_domain", "mail_from"):
        env[f"NEWSLETTER_{name.upper()}"] = str(getattr(config, name))
    return env


class Workers:
    """Celery worker and beat processes, started the way an operator starts them."""

    def __init__(self, config) -> None:  # type: ignore[no-untyped-def]
        self.env = env_for(config)
        self.processes: list[subprocess.Popen] = []
        self.celery = str(Path(sys.executable).parent / "celery")
        self.logs = Path(config.instance_dir) / "worker-logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def start_worker(self, concurrency: int = 1) -> subprocess.Popen:
        log = (self.logs / f"worker-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            [self.celery, "-A", "worker", "worker", f"--concurrency={concurrency}",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO"],
            env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.processes.append(process)
        return process

    def start_beat(self) -> subprocess.Popen:
        log = (self.logs / "beat.log").open("wb")
        schedule = Path(self.env["NEWSLETTER_INSTANCE_DIR"]) / "beat-schedule"
        process = subprocess.Popen(
            [self.celery, "-A", "worker", "beat", f"--schedule={schedule}", "--loglevel=INFO"],
            env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        os.killpg(process.pid, sig)
        process.wait()

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture
def workers(send_config) -> Iterator[Workers]:  # type: ignore[no-untyped-def]
    started = Workers(send_config)
    yield started
    started.stop_all()


@pytest.fixture
def send_app(send_config):  # type: ignore[no-untyped-def]
    with running_app(send_config) as app:
        yield app


def fill_list(app, count: int, slug: str = "news", prefix: str = "r") -> int:  # type: ignore[no-untyped-def]
    db = app.extensions["db"]
    with db.session() as session:
        mailing_list = create_list(session, slug, f"List {slug}")
    rows = "".join(f"{prefix}{n}@example.com,读者{n}\n" for n in range(count))
    import_csv(db, io.StringIO("email,name\n" + rows), mailing_list, confirmed=True)
    return mailing_list.id


def start(app, slug: str = "2026-09-14", lists: tuple[str, ...] = ("news",),  # type: ignore[no-untyped-def]
          queue: bool = True) -> int:
    from sqlalchemy import select

    from service.subscribers.models import MailingList

    config = app.config["NEWSLETTER"]
    library = app.extensions["issues"]
    compiled = library.compiled(library.collection().by_slug(slug))
    with app.extensions["db"].session() as session:
        chosen = list(session.scalars(select(MailingList).where(MailingList.slug.in_(lists))))
        send = create_send(session, compiled, chosen, mail_from=config.mail_from, again=True)
        start_send(session, send)
        send_id = send.id
    if queue:
        enqueue(config, "newsletter.send_issue", send_id)
    return send_id


def control(app, send_id: int, action: str) -> str:  # type: ignore[no-untyped-def]
    """Pause, resume or cancel as an operator does."""
    from service.sending.control import control_send

    return control_send(app.extensions["db"], app.config["NEWSLETTER"], send_id, action)


def delivery_counts(app, send_id: int) -> dict[str, int]:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from service.sending.models import Delivery

    with app.extensions["db"].session() as session:
        return dict(session.execute(
            select(Delivery.status, func.count()).where(Delivery.send_id == send_id)
            .group_by(Delivery.status)).all())


def send_reason(app, send_id: int) -> str:  # type: ignore[no-untyped-def]
    from service.sending.models import Send

    with app.extensions["db"].session() as session:
        return session.get(Send, send_id).status_reason


def wait_for_status(app, send_id: int, statuses: tuple[str, ...], timeout: float = 60.0) -> str:  # type: ignore[no-untyped-def]
    from service.sending.models import Send

    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        with app.extensions["db"].session() as session:
            status = session.get(Send, send_id).status
        if status in statuses:
            return status
        time.sleep(0.2)
    raise AssertionError(f"send {send_id} is still {status} after {timeout}s")
