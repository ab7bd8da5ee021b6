"""Post due webhook deliveries: signed, one attempt per due row, retried with backoff.

Each delivery is leased on its own, just before its POST, so two deliverers (a task and the
one beat's sweep woke) never post the same attempt, and a slow receiver holds the lease of
the one row it is being sent, not of rows waiting their turn; its result is written only while
the row still carries the lease value this deliverer set. No transaction stays open during a
POST. A 2xx answer delivers it; anything else (another status, a timeout, a refused
connection) is retried after RETRY_DELAYS, and after the last attempt it is marked failed. A
POST the egress policy refuses (a private address, see ``egress``) fails at once: no request
is made, so nothing is answered or kept. Every attempt is kept in its ``attempt_log``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, or_, select, update

from service.backoff import Backoff
from service.config import Config
from service.db import Database, utcnow
from service.queue import enqueue
from service.webhooks import egress
from service.webhooks.models import WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

# A delivery is retried after these waits; after the last retry fails it is marked failed.
RETRIES = Backoff((dt.timedelta(minutes=1), dt.timedelta(minutes=5), dt.timedelta(minutes=30),
                   dt.timedelta(hours=2), dt.timedelta(hours=12)))
RETRY_DELAYS = RETRIES.delays
MAX_ATTEMPTS = RETRIES.max_attempts
DEFAULT_TIMEOUT = 5.0
CLAIM_BATCH = 50
# A lease outlasts its POST: the connect and the answer may each take the timeout, plus slack.
LEASE_SLACK = dt.timedelta(seconds=60)
CLAIM_TRIES = 10  # rows lost to other deliverers in a row before a round gives up
MAX_ERROR = 500  # characters of an error or response body kept per attempt
USER_AGENT = "newsletter-webhooks/1"
DELIVER_WEBHOOKS = "newsletter.deliver_webhooks"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256 of ``timestamp.body`` under the endpoint's secret."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signed: str, tolerance: int = 300,
           now: float | None = None) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent (no replay)."""
    try:
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance and hmac.compare_digest(signature(secret, timestamp, body), signed)


def encode_body(payload: dict[str, Any], delivery_id: int) -> bytes:
    return json.dumps({"id": delivery_id, **payload}, ensure_ascii=False,
                      separators=(",", ":"), sort_keys=True).encode("utf-8")


@dataclass(frozen=True)
class Attempt:
    status_code: int | None
    error: str
    final: bool = False  # no later attempt could go otherwise: fail the delivery now

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post(url: str, body: bytes, headers: dict[str, str], timeout: float,
         opener: urllib.request.OpenerDirector | None = None) -> Attempt:
    """One POST through ``opener`` (by default the egress policy's, private hosts refused)."""
    if not url.lower().startswith(("http://", "https://")):
        return Attempt(None, "refused: not an http(s) URL", final=True)
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": USER_AGENT, **headers})
    try:
        with (opener or egress.opener()).open(request, timeout=timeout) as response:
            return Attempt(response.status, "")
    except urllib.error.HTTPError as exc:
        detail = exc.read(MAX_ERROR).decode("utf-8", "replace") if exc.fp else ""
        exc.close()
        return Attempt(exc.code, f"HTTP {exc.code} {exc.reason}: {detail}".strip()[:MAX_ERROR])
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, egress.RefusedAddress):
            return Attempt(None, f"refused: {reason}"[:MAX_ERROR], final=True)
        return Attempt(None, f"{type(exc).__name__}: {reason}"[:MAX_ERROR])


def _due(now: dt.datetime):  # type: ignore[no-untyped-def]
    return and_(
        WebhookDelivery.next_attempt_at <= now,
        or_(WebhookDelivery.status == "pending",
            and_(WebhookDelivery.status == "sending", WebhookDelivery.lease_until < now)),
    )


@dataclass(frozen=True)
class Job:
    """A delivery this deliverer holds, with the lease value it set: what its result must find."""

    delivery_id: int
    lease_until: dt.datetime
    attempts: int
    event: str
    body: bytes
    url: str
    secret: str
    active: bool


def _moment(clock: dt.datetime | None) -> dt.datetime:
    # The round's own time when it runs ahead of the wall clock (the tests move it on).
    return max(utcnow(), clock) if clock else utcnow()


def _claim_next(db: Database, lease: dt.timedelta, clock: dt.datetime | None) -> Job | None:
    """Lease the oldest due delivery, now, right before its POST (so no row waits for its turn
    under a lease that could run out, and then be posted by another deliverer as well)."""
    with db.session() as session:
        for _try in range(CLAIM_TRIES):
            now = _moment(clock)
            candidate = session.scalar(select(WebhookDelivery.id).where(_due(now))
                                       .order_by(WebhookDelivery.id).limit(1))
            if candidate is None:
                return None
            # Conditional: only one deliverer's UPDATE matches a row that is still due.
            result = session.execute(
                update(WebhookDelivery).where(WebhookDelivery.id == candidate, _due(now))
                .values(status="sending", lease_until=now + lease))
            row = session.get(WebhookDelivery, candidate) if result.rowcount == 1 else None
            endpoint = session.get(WebhookEndpoint, row.endpoint_id) if row else None
            if row is not None and endpoint is not None:
                return Job(row.id, now + lease, row.attempts, row.event,
                           encode_body(row.payload, row.id), endpoint.url, endpoint.secret,
                           endpoint.active)
    return None


@dataclass(frozen=True)
class Round:
    attempted: int
    delivered: int


def deliver_due(db: Database, timeout: float = DEFAULT_TIMEOUT, limit: int = CLAIM_BATCH,
                now: dt.datetime | None = None, allow_private: bool = False,
                lease: dt.timedelta | None = None) -> Round:
    """Attempt each due delivery once (up to ``limit`` of them), each leased just before its
    POST for ``lease`` (by default twice the timeout plus LEASE_SLACK)."""
    lease = lease or dt.timedelta(seconds=timeout * 2) + LEASE_SLACK
    opener = egress.opener(allow_private)
    attempted = delivered = 0
    while attempted < limit:
        job = _claim_next(db, lease, now)
        if job is None:
            break
        attempted += 1
        if not job.active:
            attempt = Attempt(None, "not sent: the endpoint is disabled", final=True)
        else:
            timestamp = str(int(time.time()))
            attempt = post(job.url, job.body, {
                "X-Newsletter-Event": job.event,
                "X-Newsletter-Delivery": str(job.delivery_id),
                "X-Newsletter-Timestamp": timestamp,
                "X-Newsletter-Signature": signature(job.secret, timestamp, job.body),
            }, timeout, opener)
        delivered += _record(db, job.delivery_id, job.attempts + 1, attempt, job.lease_until,
                             final=attempt.final, clock=now)
    return Round(attempted, delivered)


def deliver_all_due(db: Database, timeout: float = DEFAULT_TIMEOUT, max_rounds: int = 20,
                    allow_private: bool = False) -> int:
    """The task's loop: rounds until nothing is due (bounded, so one task never runs for
    ever while new events keep arriving). Returns how many were delivered."""
    delivered = 0
    for _ in range(max_rounds):
        result = deliver_due(db, timeout, allow_private=allow_private)
        delivered += result.delivered
        if result.attempted < CLAIM_BATCH:
            break
    return delivered


def any_due(db: Database) -> bool:
    now = utcnow()
    with db.session() as session:
        return session.scalar(select(WebhookDelivery.id).where(_due(now)).limit(1)) is not None


def sweep(db: Database, config: Config) -> None:
    """Beat's part: wake the deliverer when deliveries are due (retries, lost hints), and
    forget delivered and failed ones past NEWSLETTER_WEBHOOK_RETENTION_DAYS. The POSTs run in
    the task, so a slow receiver never holds up the sweep."""
    if any_due(db):
        enqueue(config, DELIVER_WEBHOOKS)
    prune(db, dt.timedelta(days=config.webhook_retention_days))


def _record(db: Database, delivery_id: int, attempts: int, attempt: Attempt,
            lease_until: dt.datetime | None, final: bool = False,
            clock: dt.datetime | None = None) -> int:
    now = _moment(clock)
    entry = {"at": now.isoformat(), "status_code": attempt.status_code, "error": attempt.error}
    values: dict[str, Any] = {"attempts": attempts, "last_status_code": attempt.status_code,
                              "last_error": attempt.error, "lease_until": None}
    retry_at = RETRIES.next_attempt(attempts, now)
    if attempt.ok:
        values.update(status="delivered", delivered_at=now)
    elif final or retry_at is None:
        values.update(status="failed")
        log.warning("webhook delivery %s failed after %s attempts: %s",
                    delivery_id, attempts, attempt.error or attempt.status_code)
    else:
        values.update(status="pending", next_attempt_at=retry_at)
        log.info("webhook delivery %s attempt %s: %s; retrying", delivery_id, attempts,
                 attempt.error or attempt.status_code)
    with db.session() as session:
        row = session.get(WebhookDelivery, delivery_id, with_for_update=True)
        if row is None or row.status != "sending" or row.lease_until != lease_until:
            return 0  # the lease ran out meanwhile: another deliverer owns the row now
        values["attempt_log"] = [*(row.attempt_log or []), entry]
        session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
                        .values(**values))
    return 1 if attempt.ok else 0


def prune(db: Database, older_than: dt.timedelta) -> int:
    """Forget delivered and failed deliveries past the retention period (they hold addresses)."""
    cutoff = utcnow() - older_than
    with db.session() as session:
        return session.execute(
            delete(WebhookDelivery).where(WebhookDelivery.status.in_(("delivered", "failed")),
                                          WebhookDelivery.created_at < cutoff)
        ).rowcount or 0
