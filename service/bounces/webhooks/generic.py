"""Our own bounce webhook, for relays and scripts that are not one of the providers.

Request: ``POST`` with a UTF-8 JSON body holding one event object or an array of them::

    {
      "id": "relay-7f3a91",            required; unique per sender, at most 200 characters
      "type": "bounce",                required; "bounce" or "complaint"
      "email": "reader@example.org",   required; the recipient
      "status": "5.1.1",               optional; RFC 3463 enhanced status code
      "diagnostic": "550 5.1.1 <reader@example.org>: user unknown",   optional
      "message_id": "<20260101.abc@news.example.org>",  optional; Message-ID of the message
      "timestamp": 1767225600          optional; when it happened, seconds since the epoch
    }

Header: ``X-Newsletter-Signature: t=<unix seconds>,v1=<signature>``, where the signature is
the lower-case hex HMAC-SHA256 of ``"<t>." + body`` (the exact bytes sent) keyed with the
shared secret in UTF-8. Several ``v1=`` entries may be sent (one per secret while rotating);
one matching is enough. In Python: ``sign_generic(body, secret, int(time.time()))``.

A request is accepted once, and only within 5 minutes of ``t`` (and at most 5 minutes ahead
of our clock): sign every attempt afresh, retries included. An event already received under
its ``id`` is the caller's to skip, so a retry with a new ``t`` is harmless.

A bounce's reason comes from ``status`` and ``diagnostic`` (5.1.1 or "user unknown":
userunknown; 5.1.2: hostunknown; 5.1.6: hasmoved; 5.1.10: notaccept; 5.2.2 or "mailbox
full": mailboxfull; 5.7.1 or "blocked": blocked; ...). Only those first four make a hard
bounce, and never with a 4.x.x status; every other bounce is soft. A complaint always
counts as one (reason ``feedback``).

Responses: 400 for a malformed body or header, 401 for a wrong, stale or repeated signature.
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

SIGNATURE_HEADER = "X-Newsletter-Signature"
MAX_ID_LENGTH = 200


def sign_generic(body: bytes, secret: str, timestamp: int) -> str:
    """The ``X-Newsletter-Signature`` value for ``body`` sent at ``timestamp``."""
    return f"t={timestamp},v1={_mac(body, secret, str(timestamp))}"


def _mac(body: bytes, secret: str, timestamp: str) -> str:
    # Over the timestamp's text as sent: "0017" and "17" are different signed bytes.
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + bytes(body), "sha256").hexdigest()


def verify_generic(
    body: bytes,
    signature_header: str | None,
    *,
    secret: str,
    replay: ReplayStore,
    now: datetime,
    max_age: timedelta = timedelta(minutes=5),
) -> list[ProviderEvent]:
    """Verify a request in our format and return its events; raise ``WebhookRejected``."""
    require_aware(now)
    if not secret:
        raise WebhookRejected(401, "the webhook secret is not configured")
    if not signature_header:
        raise WebhookRejected(401, f"{SIGNATURE_HEADER} is missing")
    timestamp, candidates = _parse_header(signature_header)
    expected = _mac(body, secret, timestamp)
    # Every candidate is compared, so timing does not tell which one (if any) matched.
    if not any([same_secret(candidate, expected) for candidate in candidates]):
        raise WebhookRejected(401, "webhook signature does not match")
    check_fresh(unix_time(timestamp, SIGNATURE_HEADER), now, max_age)
    data = load_json(body)
    events: dict[str, ProviderEvent] = {}
    for index, item in enumerate(data if isinstance(data, list) else [data]):
        event = _event(as_dict(item, f"event {index}"), f"event {index}")
        events.setdefault(event.event_id, event)
    signed = f"{timestamp}.".encode() + bytes(body)
    # Recorded last, so a request rejected for any other reason leaves no trace.
    if replay.seen("generic:" + hashlib.sha256(signed).hexdigest(), replay_ttl(max_age)):
        raise WebhookRejected(401, "webhook request was already received")
    return list(events.values())


def _parse_header(header: str) -> tuple[str, list[str]]:
    timestamp, candidates = "", []
    for part in header.split(","):
        key, equals, value = part.strip().partition("=")
        if not equals:
            raise WebhookRejected(400, f"{SIGNATURE_HEADER} must read t=<seconds>,v1=<hex>")
        if key == "t":
            timestamp = value
        elif key == "v1":
            candidates.append(value)
    if not re.fullmatch(r"\d{1,12}", timestamp) or not candidates:
        raise WebhookRejected(400, f"{SIGNATURE_HEADER} must read t=<seconds>,v1=<hex>")
    return timestamp, candidates


def _event(data: dict, where: str) -> ProviderEvent:
    event_id = text(data, "id", where, required=True)
    if len(event_id) > MAX_ID_LENGTH:
        raise WebhookRejected(400, f"{where}: id is longer than {MAX_ID_LENGTH} characters")
    event_type = text(data, "type", where, required=True)
    address = recipient(data.get("email"), where)
    status = text(data, "status", where)
    if status and not re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", status):
        raise WebhookRejected(400, f"{where}: status must be an enhanced status code like 5.1.1")
    diagnostic = text(data, "diagnostic", where)
    occurred_at = unix_time(data["timestamp"], where) if data.get("timestamp") is not None else None
    if event_type == "bounce":
        diagnosis = classify(status, diagnostic)
        kind, reason = bounce_kind(diagnosis, permanent=None), diagnosis.reason
        status = diagnosis.status or status
    elif event_type == "complaint":
        kind, reason = "complaint", "feedback"
    else:
        raise WebhookRejected(400, f"{where}: type must be bounce or complaint")
    return ProviderEvent(
        "generic", event_id, kind, reason, address, status, clip(diagnostic),
        message_id(text(data, "message_id", where)), occurred_at, data,
    )
