"""Manage webhook endpoints and read their delivery log (for the admin pages and tests)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.db import utcnow
from service.webhooks.egress import check_host
from service.webhooks.models import WEBHOOK_EVENTS, WebhookDelivery, WebhookEndpoint
from service.webhooks.outbox import PENDING_KEY

MAX_URL = 2000
SECRET_PREFIX = "whsec_"
LOG_PAGE = 50
MAX_ID = 2**31 - 1  # the id columns' largest value


class EndpointError(ValueError):
    """An endpoint cannot be made or changed this way; the message says why."""


def check_url(url: str, allow_private: bool = False) -> str:
    """An absolute http(s) URL with a host, without credentials or line breaks, whose host is
    public (unless ``allow_private``: NEWSLETTER_WEBHOOK_ALLOW_PRIVATE)."""
    url = url.strip()
    if not url or len(url) > MAX_URL or any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise EndpointError("give an absolute http:// or https:// URL without spaces")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise EndpointError("only http:// and https:// URLs with a host can receive webhooks")
    if parts.username or parts.password:
        raise EndpointError("put no user or password in the URL: deliveries are signed")
    try:
        port = parts.port if parts.port is not None else (443 if scheme == "https" else 80)
    except ValueError:
        port = 0
    if not port:
        raise EndpointError("the URL's port must be a number from 1 to 65535")
    reason = None if allow_private else check_host(parts.hostname, port)
    if reason:
        raise EndpointError(f"webhooks go to public hosts only: {reason}")
    return url


def check_events(events: Iterable[str]) -> list[str]:
    chosen = sorted(set(events))
    unknown = [e for e in chosen if e not in WEBHOOK_EVENTS]
    if unknown:
        raise EndpointError(f"unknown events: {', '.join(unknown)}")
    if not chosen:
        raise EndpointError("choose at least one event")
    return chosen


def create_endpoint(session: Session, url: str, events: Iterable[str],
                    allow_private: bool = False) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (shown to the admin once)."""
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    row = WebhookEndpoint(url=check_url(url, allow_private), secret=secret,
                          events=check_events(events), active=True, created_at=utcnow())
    session.add(row)
    session.flush()
    return row, secret


def list_endpoints(session: Session) -> list[WebhookEndpoint]:
    return list(session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def get_endpoint(session: Session, endpoint_id: int) -> WebhookEndpoint:
    row = session.get(WebhookEndpoint, endpoint_id) if 0 < endpoint_id <= MAX_ID else None
    if row is None:
        raise EndpointError(f"no webhook endpoint {endpoint_id}")
    return row


def set_active(session: Session, endpoint_id: int, active: bool) -> WebhookEndpoint:
    row = get_endpoint(session, endpoint_id)
    row.active = active
    return row


def delete_endpoint(session: Session, endpoint_id: int) -> None:
    """Remove an endpoint with its delivery log."""
    session.delete(get_endpoint(session, endpoint_id))


def recent_deliveries(session: Session, endpoint_id: int | None = None,
                      before_id: int | None = None, limit: int = LOG_PAGE) -> list[WebhookDelivery]:
    """The delivery log, newest first, a page at a time (keyset on id)."""
    query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
    if endpoint_id is not None:
        query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
    if before_id is not None:
        query = query.where(WebhookDelivery.id < before_id)
    return list(session.scalars(query))


def retry_delivery(session: Session, delivery_id: int) -> bool:
    """Put a failed delivery back in the queue for one more round of attempts."""
    if not 0 < delivery_id <= MAX_ID:
        return False
    result = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == "failed")
        .values(status="pending", attempts=0, next_attempt_at=utcnow())
    )
    if result.rowcount != 1:
        return False
    session.info[PENDING_KEY] = True  # wake the deliverer after the commit
    return True
