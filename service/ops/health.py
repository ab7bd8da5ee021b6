"""``/healthz`` (the process answers) and ``/readyz`` (the database, Redis when configured and an
SMTP server can be reached), for load balancers, orchestrators and the admin dashboard.

The checks run side by side, each with a short timeout of its own, and the whole answer is
bounded by ``CHECK_TIMEOUT_SECONDS`` plus a little: a dead server costs one timeout, not a hung
request. What a failure says is the kind of error only (no URL, user or password); the full
error goes to the log.

``/readyz`` needs no login, so its answer is kept per app for ``READY_CACHE_SECONDS``: a flood
of probes costs one set of checks (one SMTP session to the relay) per period, not one per hit.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from flask import Flask, Response, current_app, jsonify
from sqlalchemy import text

from service.config import Config
from service.db import Database
from service.mail.transport import SmtpSettings, parse_smtp_urls

log = logging.getLogger(__name__)
CHECK_TIMEOUT_SECONDS = 2.0
# How long the dashboard trusts an SMTP answer: it stays fast while a server is down.
SMTP_CACHE_SECONDS = 30.0
# How long every /readyz caller of a process gets the same answer: probes every few seconds
# still see a fault quickly, a flood costs one set of checks per period.
READY_CACHE_SECONDS = 3.0
# Few threads, shared by every request: a check stuck on a dead host holds one, not more. Its
# queue stays short because each app has at most one check of each kind in flight (see
# _ReadyCache) and the SMTP cache one refresh per URL.
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str = ""  # "ok", "not configured", or the kind of error
    ms: int = 0

    def as_dict(self) -> dict:
        return {"ok": self.ok, "detail": self.detail, "ms": self.ms}


def _timed(action: Callable[[], str]) -> Check:
    started = time.monotonic()
    try:
        detail = action()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", said by its kind
        log.warning("readiness check failed: %s", exc)
        return Check(False, _kind(exc), _ms(started))
    return Check(True, detail, _ms(started))


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _kind(exc: Exception) -> str:
    """The error's kind without its message: messages may carry hosts, users or passwords."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"SMTP reply {exc.smtp_code}"
    return type(exc).__name__


def check_database(db: Database) -> Check:
    def ping() -> str:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return "ok"

    return _timed(ping)


def check_redis(url: str) -> Check:
    if not url:
        return Check(True, "not configured")

    def ping() -> str:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=CHECK_TIMEOUT_SECONDS,
                                      socket_connect_timeout=CHECK_TIMEOUT_SECONDS)
        try:
            client.ping()
        finally:
            client.close()
        return "ok"

    return _timed(ping)


def _greet(server: SmtpSettings) -> None:
    """Connect, read the 220 greeting, say QUIT: the server is there and talks SMTP."""
    timeout = min(server.timeout, CHECK_TIMEOUT_SECONDS)
    if server.security == "ssl":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(timeout=timeout,
                                              context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(timeout=timeout)
    try:
        code, _message = smtp.connect(server.host, server.port)
        if code != 220:
            raise smtplib.SMTPConnectError(code, b"greeting")
        smtp.quit()
    finally:
        smtp.close()


def check_smtp(smtp_url: str) -> Check:
    """Ready when one of the configured servers greets us (the others are failover)."""
    def greet_any() -> str:
        servers = parse_smtp_urls(smtp_url)
        error: Exception | None = None
        for server in servers:
            try:
                _greet(server)
                return "ok"
            except Exception as exc:  # noqa: BLE001 - try the next server
                error = exc
        assert error is not None
        raise error

    return _timed(greet_any)


class _SmtpCache:
    """The last SMTP check per URL, for pages that must not wait on a dead server."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: dict[str, tuple[float, Check]] = {}
        self.refreshing: set[str] = set()

    def get(self, smtp_url: str, max_age: float = SMTP_CACHE_SECONDS) -> Check:
        """The last answer; a stale one is refreshed in the background while it is shown, so
        only the very first ask of a process waits (at most the check's timeout)."""
        with self.lock:
            entry = self.entries.get(smtp_url)
            if entry is not None:
                if time.monotonic() - entry[0] >= max_age and smtp_url not in self.refreshing:
                    self.refreshing.add(smtp_url)
                    _pool.submit(self._refresh, smtp_url)
                return entry[1]
        result = check_smtp(smtp_url)
        self.put(smtp_url, result)
        return result

    def _refresh(self, smtp_url: str) -> None:
        try:
            self.put(smtp_url, check_smtp(smtp_url))
        finally:
            with self.lock:
                self.refreshing.discard(smtp_url)

    def put(self, smtp_url: str, result: Check) -> None:
        with self.lock:
            self.entries[smtp_url] = (time.monotonic(), result)

    def recent(self, smtp_url: str, max_age: float) -> Check | None:
        """The last answer if it is younger than ``max_age``, else None (nothing is checked)."""
        with self.lock:
            entry = self.entries.get(smtp_url)
        if entry is None or time.monotonic() - entry[0] >= max_age:
            return None
        return entry[1]


smtp_cache = _SmtpCache()


def readiness(config: Config, db: Database,
              running: dict[str, Future[Check]] | None = None,
              smtp_known: Check | None = None) -> dict[str, Check]:
    """Every check, run side by side; one that overruns the timeout counts as timed out.

    ``running`` holds the checks still in flight from an earlier call (one that timed out goes
    on in its thread): such a check is waited for again rather than started twice, so a dead
    server never piles work onto the pool. ``smtp_known`` is a recent SMTP answer to use
    instead of opening a session."""
    running = {} if running is None else running
    checks = {
        "database": lambda: check_database(db),
        "redis": lambda: check_redis(config.redis_url),
        "smtp": lambda: check_smtp(config.smtp_url),
    }
    if smtp_known is not None:
        del checks["smtp"]
    for name, check in checks.items():
        if name not in running or running[name].done():
            running[name] = _pool.submit(check)
    deadline = time.monotonic() + CHECK_TIMEOUT_SECONDS + 0.5
    results: dict[str, Check] = {}
    for name in checks:
        try:
            results[name] = running[name].result(timeout=max(deadline - time.monotonic(), 0.01))
        except FutureTimeout:
            results[name] = Check(False, "timed out", round(CHECK_TIMEOUT_SECONDS * 1000))
    if smtp_known is None:
        smtp_cache.put(config.smtp_url, results["smtp"])
    else:
        results["smtp"] = smtp_known
    return results


class _ReadyCache:
    """One app's last readiness answer: fresh for ``READY_CACHE_SECONDS``; one caller at a
    time refreshes it while the others get the answer before (only an app's very first callers
    wait, for at most the checks' timeout)."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.results: dict[str, Check] | None = None
        self.at = 0.0
        self.refreshing = False
        self.running: dict[str, Future[Check]] = {}

    def get(self, config: Config, db: Database) -> dict[str, Check]:
        with self.changed:
            while True:
                if self.results is not None and (
                        self.refreshing or time.monotonic() - self.at < READY_CACHE_SECONDS):
                    return self.results
                if not self.refreshing:
                    break
                self.changed.wait(CHECK_TIMEOUT_SECONDS + 1)
            self.refreshing = True
            first = self.results is None
        results = None
        try:
            # A fresh SMTP answer (the dashboard's, say) saves a session; an app's first
            # answer checks for real, since it decides whether the process gets traffic.
            known = None if first else smtp_cache.recent(config.smtp_url, READY_CACHE_SECONDS)
            results = readiness(config, db, self.running, known)
            return results
        finally:
            with self.changed:
                if results is not None:
                    self.results, self.at = results, time.monotonic()
                self.refreshing = False
                self.changed.notify_all()


def healthz() -> Response:
    response = Response("ok\n", mimetype="text/plain")
    response.headers["Cache-Control"] = "no-store"
    return response


def readyz() -> tuple[Response, int]:
    results = current_app.extensions["readyz"].get(current_app.config["NEWSLETTER"],
                                                   current_app.extensions["db"])
    failed = [name for name, check in results.items() if not check.ok]
    body = {
        "status": "unavailable" if failed else "ok",
        "failed": failed,
        "checks": {name: check.as_dict() for name, check in results.items()},
    }
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, 503 if failed else 200


def init_health(app: Flask) -> None:
    """Plain app routes: no session, no CSRF, no rate limit (none is set on them)."""
    app.extensions["readyz"] = _ReadyCache()
    app.add_url_rule("/healthz", "healthz", healthz, methods=["GET", "HEAD"])
    app.add_url_rule("/readyz", "readyz", readyz, methods=["GET", "HEAD"])
