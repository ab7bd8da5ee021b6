"""Mailgun webhooks (the JSON kind, one event per request).

The body is ``{"signature": {"timestamp", "token", "signature"}, "event-data": {...}}``; the
signature is the hex HMAC-SHA256 of ``timestamp + token`` under the webhook signing key
(Mailgun's "Securing webhooks"). A request is accepted once, within ``max_age`` of its
timestamp: the replay key is the signed ``timestamp + token``, kept as long as it could
verify. Mailgun signs every retry afresh, so a retry is not a replay.

The signature does not cover ``event-data``: whoever sees a fresh signature could attach
other events to it. That is Mailgun's scheme, not ours to fix; it is why the endpoint must
be HTTPS and why the signature is single-use (the replay key ignores the event).

Mapping of ``event-data``:

- ``failed`` with severity ``permanent``: reason from delivery-status (enhanced code, SMTP
  code, message, description), hard only for an address-level reason. Mailgun's own
  ``reason`` overrides this for ``suppress-bounce``/``-complaint``/``-unsubscribe`` (Mailgun
  did not send because of an earlier event that reached us then: ignore, ``suspend``),
  ``old`` (retries ran out: soft, ``expired``) and ``esp-block`` (soft, ``blocked``).
- ``failed`` with severity ``temporary``: ignored; Mailgun is still retrying, and the final
  outcome arrives as its own event. Counting each attempt would over-count soft bounces.
- ``complained``: complaint, ``feedback``. ``delivered``: ignore, ``delivered``. Anything
  else: ignore, ``undefined``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime, timedelta

from service.bounces.webhooks.common import (
    ProviderEvent,
    ReplayStore,
    WebhookRejected,
    as_dict,
    bounce_kind,
    check_fresh,
    classify,
    clip,
    load_json,
    message_id,
    recipient,
    replay_ttl,
    require_aware,
    same_secret,
    text,
    unix_time,
)

_SUPPRESSED = {"suppress-bounce", "suppress-complaint", "suppress-unsubscribe"}


def verify_mailgun(
    body: bytes,
    *,
    signing_key: str,
    replay: ReplayStore,
    now: datetime,
    max_age: timedelta = timedelta(minutes=5),
) -> list[ProviderEvent]:
    """Verify a Mailgun webhook body and return its event; raise ``WebhookRejected``."""
    require_aware(now)
    if not signing_key:
        raise WebhookRejected(401, "Mailgun webhook signing key is not configured")
    data = as_dict(load_json(body), "Mailgun webhook")
    signed = as_dict(data.get("signature"), "Mailgun signature")
    timestamp = text(signed, "timestamp", "Mailgun signature", required=True)
    token = text(signed, "token", "Mailgun signature", required=True)
    given = text(signed, "signature", "Mailgun signature", required=True)
    if not re.fullmatch(r"\d{1,12}", timestamp):
        raise WebhookRejected(400, "Mailgun signature: timestamp must be seconds")
    message = (timestamp + token).encode()
    expected = hmac.new(signing_key.encode(), message, hashlib.sha256).hexdigest()
    if not same_secret(given, expected):
        raise WebhookRejected(401, "Mailgun signature does not match")
    check_fresh(unix_time(timestamp, "Mailgun signature"), now, max_age)
    events = [_event(as_dict(data.get("event-data"), "Mailgun event-data"))]
    # Recorded last, so a request rejected for any other reason leaves no trace.
    if replay.seen("mailgun:" + hashlib.sha256(message).hexdigest(), replay_ttl(max_age)):
        raise WebhookRejected(401, "Mailgun webhook was already received")
    return events


def _event(data: dict) -> ProviderEvent:
    where = "Mailgun event-data"
    name = text(data, "event", where, required=True)
    event_id = text(data, "id", where, required=True)
    address = recipient(data.get("recipient"), where)
    occurred_at = unix_time(data["timestamp"], where) if "timestamp" in data else None
    message = data.get("message")
    headers = message.get("headers") if isinstance(message, dict) else None
    headers = headers if isinstance(headers, dict) else {}
    original_id = message_id(text(headers, "message-id", where))
    status = diagnostic = ""
    if name == "failed":
        kind, reason, status, diagnostic = _failed(data)
    elif name == "complained":
        kind, reason = "complaint", "feedback"
    else:
        kind, reason = "ignore", "delivered" if name == "delivered" else "undefined"
    return ProviderEvent(
        "mailgun", event_id, kind, reason, address, status, clip(diagnostic), original_id,
        occurred_at, data,
    )


def _failed(data: dict) -> tuple[str, str, str, str]:
    where = "Mailgun delivery-status"
    delivery = as_dict(data.get("delivery-status") or {}, where)
    smtp_message = text(delivery, "message", where)
    description = text(delivery, "description", where)
    diagnostic = " ".join(filter(None, [text(delivery, "code", where), smtp_message, description]))
    diagnosis = classify(text(delivery, "enhanced-code", where), diagnostic)
    shown = smtp_message or description
    mailgun_reason = text(data, "reason", "Mailgun event-data")
    if mailgun_reason in _SUPPRESSED:
        return "ignore", "suspend", diagnosis.status, shown
    if mailgun_reason == "old":
        return "soft", "expired", diagnosis.status, shown
    if mailgun_reason in ("espblock", "esp-block"):
        return "soft", "blocked", diagnosis.status, shown
    severity = text(data, "severity", "Mailgun event-data")
    if severity == "temporary":
        return "ignore", diagnosis.reason, diagnosis.status, shown
    kind = bounce_kind(diagnosis, permanent=True if severity == "permanent" else None)
    return kind, diagnosis.reason, diagnosis.status, shown
