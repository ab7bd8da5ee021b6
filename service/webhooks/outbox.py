"""Record webhook deliveries in the transaction of the event that causes them.

``record_event`` is the one call each event's code makes. It writes one pending
``WebhookDelivery`` per active endpoint that wants the event, in the caller's session, so a
delivery exists exactly when its event was committed, and a rolled-back change sends
nothing. After the commit a hint wakes the deliverer (a Celery task); beat's sweep delivers
whatever a lost hint left behind.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db import utcnow
from service.webhooks.models import WEBHOOK_EVENTS, WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)
PENDING_KEY = "webhook_deliveries_written"
ENDPOINTS_KEY = "webhook_endpoints"

# Called after a commit that wrote deliveries; set by the app (service.api.setup). A module
# value because the commit hook belongs to every session, not to one app.
_notifier: Callable[[], None] | None = None


def set_notifier(notify: Callable[[], None] | None) -> None:
    global _notifier
    _notifier = notify


def wanting(session: Session, event: str) -> list[int]:
    """The active endpoints that want ``event``. One read of a small table per transaction
    (kept in the session until it ends): cheap on every event path, also with no endpoint."""
    if event not in WEBHOOK_EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    endpoints = session.info.get(ENDPOINTS_KEY)
    if endpoints is None:
        endpoints = session.execute(
            select(WebhookEndpoint.id, WebhookEndpoint.events)
            .where(WebhookEndpoint.active.is_(True))
        ).all()
        session.info[ENDPOINTS_KEY] = endpoints
    return [endpoint_id for endpoint_id, events in endpoints if event in (events or ())]


def record_event(session: Session, event: str, data: dict[str, Any],
                 at: dt.datetime | None = None) -> int:
    """Queue ``event`` with ``data`` for every active endpoint that wants it. Returns how many."""
    wanted = wanting(session, event)
    if not wanted:
        return 0
    payload = {"event": event, "occurred_at": (at or utcnow()).isoformat(), "data": data}
    for endpoint_id in wanted:
        session.add(WebhookDelivery(endpoint_id=endpoint_id, event=event, payload=payload,
                                    status="pending", attempts=0, next_attempt_at=utcnow(),
                                    last_error="", attempt_log=[]))
    session.info[PENDING_KEY] = True
    return len(wanted)


@sa_event.listens_for(Session, "after_commit")
def _wake_deliverer(session: Session) -> None:
    session.info.pop(ENDPOINTS_KEY, None)
    if not session.info.pop(PENDING_KEY, False) or _notifier is None:
        return
    try:
        _notifier()
    except Exception:  # the rows are committed; beat's sweep delivers them without the hint
        log.warning("could not wake the webhook deliverer; the sweep will deliver", exc_info=True)


@sa_event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(PENDING_KEY, None)
    session.info.pop(ENDPOINTS_KEY, None)
