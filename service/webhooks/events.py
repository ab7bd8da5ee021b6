"""The payload of each webhook event, built where the event happens. Each function is the one
line its event's code calls, inside that code's transaction.

- subscribe: a signup waits for confirmation (a double opt-in list);
- confirm: a subscription is confirmed (for a single opt-in list, the signup itself);
- unsubscribe: a reader left a list (a link, the preferences page, a complaint, the API);
- bounce / complaint: a bounce or complaint was recorded, with what the policy did;
- send_finished: the last delivery of a send was settled.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.webhooks.outbox import record_event, wanting

# Subscriber event kinds (service.subscribers.services.record) that are webhook events.
SUBSCRIBER_EVENTS = {"signup": "subscribe", "confirm": "confirm", "unsubscribe": "unsubscribe"}
BOUNCE_EVENTS = {"hard": "bounce", "soft": "bounce", "complaint": "complaint"}


def record_subscriber_event(session: Session, kind: str, subscriber: Any, *,
                            list_id: int | None, source: str) -> None:
    event = SUBSCRIBER_EVENTS.get(kind)
    if event is None or not wanting(session, event):
        return
    from service.subscribers.models import MailingList

    list_key = None
    if list_id is not None:
        list_key = session.scalar(select(MailingList.slug).where(MailingList.id == list_id))
    record_event(session, event, {
        "subscriber": {"id": subscriber.id, "email": subscriber.email},
        "list": list_key, "source": source,
    })


def record_bounce_event(session: Session, event: Any) -> None:
    """A stored BounceEvent (after the policy acted on it)."""
    name = BOUNCE_EVENTS.get(event.kind)
    if name is None or not wanting(session, name):
        return
    record_event(session, name, {
        "subscriber": {"id": event.subscriber_id, "email": event.recipient},
        "send_id": event.send_id, "delivery_id": event.delivery_id, "kind": event.kind,
        "reason": event.reason, "status": event.status, "action": event.action,
        "source": event.source,
    })


def record_send_finished(session: Session, send_id: int) -> None:
    from service.sending.models import Delivery, Send

    send = session.get(Send, send_id)
    if send is None or not wanting(session, "send_finished"):
        return
    counts = dict(session.execute(
        select(Delivery.status, func.count()).where(Delivery.send_id == send_id)
        .group_by(Delivery.status)).all())
    record_event(session, "send_finished", {
        "send": {"id": send.id, "issue": send.issue_slug, "total": send.total,
                 "started_at": send.started_at.isoformat() if send.started_at else None},
        "counts": {str(status): count for status, count in counts.items()},
    })
