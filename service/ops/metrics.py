"""Prometheus metrics at ``/metrics``, correct with any number of web and worker processes.

Two sources, neither of them a process's own memory:

- what lives in the database (deliveries by state, signups, confirms, unsubscribes, bounces
  by kind, claimable deliveries) is counted by aggregate queries when Prometheus scrapes,
  cached for ``CACHE_SECONDS`` so that several scrapers cost one set of queries per web
  process. Deliveries are those of recent sends only (running, paused, scheduled, or started
  in the last ``RECENT_DAYS``): an index range per send, where the whole ledger (tens of
  millions of rows after a year) would take seconds (measured: 0.7 s for 2 million rows);
- what only a sending worker sees (SMTP replies by class, their latency) is added by the
  workers to a Redis hash (service/ops/smtp_metrics.py) and read here, with the length of the
  Celery queues.

Counts that come from rows a reader's deletion removes (signups, bounces) are gauges, not
counters: they may go down. ``NEWSLETTER_METRICS_TOKEN`` makes the endpoint ask for
``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from sqlalchemy import func, or_, select

from service.bounces.models import KINDS as BOUNCE_KINDS
from service.bounces.models import BounceEvent
from service.config import Config
from service.db import Database, utcnow
from service.ops import smtp_metrics
from service.sending.leases import claim_states
from service.sending.models import Delivery, Send
from service.sending.states import DeliveryStatus, SendStatus
from service.subscribers.models import SubscriberEvent

log = logging.getLogger(__name__)
CACHE_SECONDS = 30.0
RECENT_DAYS = 7
SUBSCRIBER_KINDS = ("signup", "confirm", "unsubscribe")
# Celery's Redis transport keeps one list per queue and priority step ("celery", then
# "celery\x06\x163"...); the project uses the default queue only.
CELERY_QUEUE = "celery"
PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (3, 6, 9)


def database_counts(db: Database) -> dict[str, dict[str, int]]:
    """Every database figure, each one grouped count."""
    with db.session() as session:
        now = utcnow()
        recent = select(Send.id).where(or_(
            Send.status.in_((SendStatus.SENDING, SendStatus.PAUSED, SendStatus.SCHEDULED)),
            Send.started_at >= now - dt.timedelta(days=RECENT_DAYS)))
        deliveries = dict(session.execute(
            select(Delivery.status, func.count()).where(Delivery.send_id.in_(recent))
            .group_by(Delivery.status)).all())
        events = dict(session.execute(
            select(SubscriberEvent.kind, func.count())
            .where(SubscriberEvent.kind.in_(SUBSCRIBER_KINDS)).group_by(SubscriberEvent.kind)).all())
        bounces = dict(session.execute(
            select(BounceEvent.kind, func.count()).group_by(BounceEvent.kind)).all())
        # Rows a batch could claim now, of running sends: one indexed count per claim state.
        sending = select(Send.id).where(Send.status == SendStatus.SENDING).scalar_subquery()
        claimable = sum(session.scalar(
            select(func.count()).select_from(Delivery)
            .where(Delivery.send_id.in_(sending), state)) or 0 for state in claim_states(now))
    return {
        "deliveries": {state: deliveries.get(state, 0) for state in DeliveryStatus},
        "events": {kind: events.get(kind, 0) for kind in SUBSCRIBER_KINDS},
        "bounces": {kind: bounces.get(kind, 0) for kind in BOUNCE_KINDS},
        "claimable": {"": claimable},
    }


def redis_figures(client: Any) -> dict[str, Any]:
    keys = [CELERY_QUEUE] + [f"{CELERY_QUEUE}{PRIORITY_SEPARATOR}{step}" for step in PRIORITY_STEPS]
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.llen(key)
    depth = sum(pipe.execute())
    return {"queue_depth": depth, "smtp": smtp_metrics.read_totals(client)}


class NewsletterCollector:
    """A custom collector: figures are read when scraped, not kept by this process."""

    def __init__(self, db: Database, config: Config, redis_client: Any = None) -> None:
        self.db, self.config, self.redis = db, config, redis_client
        self.lock = threading.Lock()
        self.cached_at = -CACHE_SECONDS
        self.cached: tuple[dict | None, dict | None] = (None, None)

    def figures(self) -> tuple[dict | None, dict | None]:
        with self.lock:  # one scrape queries; the others wait for its answer
            if time.monotonic() - self.cached_at >= CACHE_SECONDS:
                self.cached = (self._read(self._database), self._read(self._redis))
                self.cached_at = time.monotonic()
            return self.cached

    def _database(self) -> dict:
        return database_counts(self.db)

    def _redis(self) -> dict | None:
        return redis_figures(self.redis) if self.redis is not None else None

    @staticmethod
    def _read(source: Any) -> dict | None:
        try:
            return source()
        except Exception as exc:  # noqa: BLE001 - a scrape shows the source as down instead
            log.warning("metrics: a source failed: %s", exc)
            return None

    def collect(self) -> Iterator[Metric]:
        database, redis = self.figures()
        up = GaugeMetricFamily("newsletter_metrics_source_up",
                               "Whether the last read of a metrics source worked", labels=["source"])
        up.add_metric(["database"], 1 if database is not None else 0)
        if self.redis is not None:
            up.add_metric(["redis"], 1 if redis is not None else 0)
        yield up
        if database is not None:
            yield from self._database_metrics(database)
        if redis is not None:
            yield from self._redis_metrics(redis)

    @staticmethod
    def _database_metrics(data: dict) -> Iterator[Metric]:
        deliveries = GaugeMetricFamily(
            "newsletter_deliveries",
            f"Ledger rows by state, of sends running or started in the last {RECENT_DAYS} days",
            labels=["state"])
        for state, count in data["deliveries"].items():
            deliveries.add_metric([str(state)], count)
        yield deliveries
        events = GaugeMetricFamily(
            "newsletter_subscriber_events",
            "Signups, confirmations and unsubscribes recorded (a deleted reader's go with them)",
            labels=["kind"])
        for kind, count in data["events"].items():
            events.add_metric([kind], count)
        yield events
        bounces = GaugeMetricFamily("newsletter_bounces", "Bounce events recorded, by kind",
                                    labels=["kind"])
        for kind, count in data["bounces"].items():
            bounces.add_metric([kind], count)
        yield bounces
        yield GaugeMetricFamily("newsletter_claimable_deliveries",
                                "Rows of running sends that a batch could claim now",
                                value=data["claimable"][""])

    @staticmethod
    def _redis_metrics(data: dict) -> Iterator[Metric]:
        yield GaugeMetricFamily("newsletter_queue_depth", "Tasks waiting in the Celery queue",
                                value=data["queue_depth"])
        totals = data["smtp"]
        replies = CounterMetricFamily("newsletter_smtp_replies",
                                      "SMTP replies to our messages, by class", labels=["class"])
        for name in smtp_metrics.CLASSES:
            replies.add_metric([name], totals.get(f"reply:{name}", 0.0))
        yield replies
        cumulative, buckets = 0.0, []
        bounds = [*(str(b) for b in smtp_metrics.BUCKETS), "+Inf"]
        for index, bound in enumerate(bounds):
            cumulative += totals.get(f"bucket:{index}", 0.0)
            buckets.append((bound, cumulative))
        yield HistogramMetricFamily(
            "newsletter_smtp_reply_seconds", "Time from handing a message to SMTP to its reply",
            buckets=buckets, sum_value=totals.get("seconds", 0.0))


def authorised(token: str) -> bool:
    if not token:
        return True
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


def metrics() -> Response:
    registry = current_app.extensions["metrics_registry"]
    if not authorised(current_app.config["NEWSLETTER"].metrics_token):
        response = Response("a bearer token is needed\n", status=401, mimetype="text/plain")
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    response = Response(generate_latest(registry), mimetype=None)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    response.headers["Cache-Control"] = "no-store"
    return response


def init_metrics(app: Flask, config: Config) -> None:
    redis_client = None
    if config.redis_url:
        from service.redis_guard import fast_failing_client

        redis_client = fast_failing_client(config.redis_url)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NewsletterCollector(app.extensions["db"], config, redis_client))
    app.extensions["metrics_registry"] = registry
    app.add_url_rule("/metrics", "metrics", metrics, methods=["GET"])
