"""Fixtures for real services: SQLite and PostgreSQL databases, and the Flask app.

PostgreSQL comes from NEWSLETTER_TEST_POSTGRES_URL (default: the local server's
``test`` database). Each test session works in a schema of its own. When the
server cannot be reached the PostgreSQL variants are skipped, unless
NEWSLETTER_TEST_REQUIRE_SERVICES=1 (CI sets it), which turns that into a failure.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from service import create_app, migrate
from service.config import PROJECT_ROOT, load_config
from tests.smtp_sink import SmtpSink

# The suite runs in development, said explicitly: a process given no NEWSLETTER_ENV runs as
# production (which refuses the short test keys). Commands the tests run inherit this.
os.environ["NEWSLETTER_ENV"] = "development"

POSTGRES_URL = os.environ.get(
    "NEWSLETTER_TEST_POSTGRES_URL", "postgresql+psycopg://127.0.0.1:5432/test"
)
REQUIRE_SERVICES = os.environ.get("NEWSLETTER_TEST_REQUIRE_SERVICES") == "1"
SEEDS_DIR = PROJECT_ROOT.parent / "shared" / "seeds"
TEST_BASE_URL = "https://news.example.org"


def _service_missing(what: str, error: Exception) -> None:
    message = f"{what} is not reachable: {error}"
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_schema_url() -> Iterator[str]:
    """A fresh schema in the test database, dropped at the end of the session."""
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001 - any connection failure means "no server"
        admin.dispose()
        _service_missing("PostgreSQL", exc)
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated database of each kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.sqlite3'}"
        engine = create_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield url
        return
    url = request.getfixturevalue("postgres_schema_url")
    engine = create_engine(url)
    migrate.upgrade(engine)
    try:
        yield url
    finally:
        migrate.downgrade(engine, "base")
        engine.dispose()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A real SMTP server on a free loopback port, with fault modes."""
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def redis_url() -> str:
    """A Redis database of the tests' own, emptied first."""
    import redis

    url = os.environ.get("NEWSLETTER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        _service_missing("Redis", exc)
    finally:
        client.close()
    return url


@pytest.fixture
def config(tmp_path: Path, database_url: str, smtp_sink: SmtpSink):  # type: ignore[no-untyped-def]
    return load_config(
        environ={},
        env="development",
        instance_dir=tmp_path / "instance",
        database_url=database_url,
        base_url=TEST_BASE_URL,
        secret_key="test-secret-key",
        smtp_url=smtp_sink.url,
    )


@contextmanager
def running_app(config):  # type: ignore[no-untyped-def]
    """An app for one test, its relays stopped and its connections closed afterwards."""
    application = create_app(config)
    try:
        yield application
    finally:
        application.extensions["signups"].stop()
        application.extensions["outbox"].stop()
        application.extensions["db"].dispose()


def process_signups(app) -> int:  # type: ignore[no-untyped-def]
    """Do the signups that pages queued (the relay would, a moment later). Returns how many."""
    return app.extensions["signups"].drain()


@pytest.fixture
def app(config):  # type: ignore[no-untyped-def]
    with running_app(config) as application:
        yield application


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()
