"""SendGrid's Signed Event Webhook (a JSON array of events per request).

``X-Twilio-Email-Event-Webhook-Signature`` is a base64 DER ECDSA P-256 signature with SHA-256
over the ``X-Twilio-Email-Event-Webhook-Timestamp`` header's text followed by the raw body;
the verification key is the base64 DER public key SendGrid shows under Mail Settings.

Replays: ECDSA signatures are malleable (``(r, s)`` and ``(r, n - s)`` both verify), so the
replay key is the signed content, timestamp and body, never the signature text; it lives
as long as the timestamp is fresh. SendGrid signs every retry afresh.

Mapping (``event_id`` is ``sg_event_id``):

- ``bounce`` with type ``bounce`` (permanent): reason from status and reason text, else from
  ``bounce_classification`` (Invalid Address: userunknown, Mailbox Unavailable: suspend,
  Technical: systemerror, Content: filtered, Reputation and Frequency or Volume: blocked);
  hard only for an address-level reason. Type ``blocked`` is SendGrid's temporary refusal:
  soft, reason from the text, else ``blocked``.
- ``dropped``: SendGrid did not send. "Invalid" addresses are hard ``userunknown``;
  suppressed addresses (Bounced Address, Spam Reporting Address, Unsubscribed Address) are
  ignored as ``suspend`` because the event that suppressed them reached us then; "Spam
  Content" is ignored as ``spamdetected`` (our content, not the reader's address); others
  are ignored as ``undefined``.
- ``deferred``: ignored; SendGrid is still retrying. ``spamreport``: complaint, feedback.
  ``delivered``: ignore, delivered. Anything else: ignore, undefined.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections.abc import Mapping
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from service.bounces.webhooks.common import (
    ProviderEvent,
    ReplayStore,
    WebhookRejected,
    as_dict,
    as_list,
    bounce_kind,
    check_fresh,
    classify,
    clip,
    load_json,
    message_id,
    recipient,
    replay_ttl,
    require_aware,
    text,
    unix_time,
)

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
_CLASSIFICATION = {
    "invalid address": "userunknown", "mailbox unavailable": "suspend",
    "technical": "systemerror", "content": "filtered", "reputation": "blocked",
    "frequency or volume": "blocked", "unclassified": "undefined",
}
_SUPPRESSED_DROPS = ("bounced address", "spam reporting address", "unsubscribed address")


@functools.lru_cache(maxsize=8)
def load_public_key(key: str) -> ec.EllipticCurvePublicKey:
    """The verification key from settings (base64 DER, or PEM); ValueError if unusable.
    Call it at startup to fail early on a mistyped setting."""
    key = key.strip()
    try:
        if key.startswith("-----BEGIN"):
            public_key = serialization.load_pem_public_key(key.encode())
        else:
            der = base64.b64decode("".join(key.split()), validate=True)
            public_key = serialization.load_der_public_key(der)
    except UnsupportedAlgorithm as exc:
        raise ValueError(f"the SendGrid verification key is unusable: {exc}") from None
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, ec.SECP256R1
    ):
        raise ValueError("the SendGrid verification key must be an ECDSA P-256 public key")
    return public_key


def verify_sendgrid(
    body: bytes,
    headers: Mapping[str, str],
    *,
    public_key_b64: str,
    replay: ReplayStore,
    now: datetime,
    max_age: timedelta = timedelta(minutes=5),
) -> list[ProviderEvent]:
    """Verify a SendGrid Event Webhook request and return its events; raise
    ``WebhookRejected`` (or ValueError for an unusable ``public_key_b64`` setting)."""
    require_aware(now)
    if not public_key_b64:
        raise WebhookRejected(401, "SendGrid webhook verification key is not configured")
    public_key = load_public_key(public_key_b64)
    signature_text = _header(headers, SIGNATURE_HEADER)
    timestamp = _header(headers, TIMESTAMP_HEADER)
    if not signature_text or not timestamp:
        raise WebhookRejected(401, "SendGrid signature headers are missing")
    if not re.fullmatch(r"\d{1,12}", timestamp):
        raise WebhookRejected(400, "SendGrid timestamp must be seconds")
    try:
        signature = base64.b64decode(signature_text, validate=True)
    except ValueError:  # binascii.Error, or a non-ASCII character
        raise WebhookRejected(400, "SendGrid signature is not base64") from None
    signed = timestamp.encode() + bytes(body)
    try:
        public_key.verify(signature, signed, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise WebhookRejected(401, "SendGrid signature does not match") from None
    check_fresh(unix_time(timestamp, "SendGrid timestamp"), now, max_age)
    events: dict[str, ProviderEvent] = {}
    for item in as_list(load_json(body), "SendGrid events"):
        event = _event(as_dict(item, "SendGrid event"))
        events.setdefault(event.event_id, event)
    # Recorded last, so a request rejected for any other reason leaves no trace.
    if replay.seen("sendgrid:" + hashlib.sha256(signed).hexdigest(), replay_ttl(max_age)):
        raise WebhookRejected(401, "SendGrid webhook was already received")
    return list(events.values())


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:  # a plain dict is case-sensitive; HTTP header names are not
        value = next((v for k, v in headers.items() if str(k).lower() == name.lower()), None)
    if not isinstance(value, str) or not value.isascii():
        return ""
    return value.strip()


def _event(data: dict) -> ProviderEvent:
    where = "SendGrid event"
    name = text(data, "event", where, required=True)
    event_id = text(data, "sg_event_id", where, required=True)
    address = recipient(data.get("email"), where)
    occurred_at = unix_time(data["timestamp"], where) if "timestamp" in data else None
    original_id = message_id(text(data, "smtp-id", where) or text(data, "sg_message_id", where))
    status = text(data, "status", where)
    diagnostic = text(data, "reason", where) or text(data, "response", where)
    if name == "bounce":
        kind, reason, status = _bounce(data, status, diagnostic)
    elif name == "dropped":
        kind, reason = _dropped(diagnostic)
    elif name == "deferred":  # SendGrid is still trying; the outcome arrives as its own event
        diagnosis = classify(status, diagnostic)
        kind, reason, status = "ignore", diagnosis.reason, diagnosis.status or status
    elif name == "spamreport":
        kind, reason = "complaint", "feedback"
    else:
        kind, reason = "ignore", "delivered" if name == "delivered" else "undefined"
    return ProviderEvent(
        "sendgrid", event_id, kind, reason, address, status, clip(diagnostic), original_id,
        occurred_at, data,
    )


def _bounce(data: dict, status: str, diagnostic: str) -> tuple[str, str, str]:
    classification = text(data, "bounce_classification", "SendGrid event").lower()
    if text(data, "type", "SendGrid event") == "blocked":
        diagnosis = classify(status, diagnostic, default="blocked")
        return bounce_kind(diagnosis, permanent=False), diagnosis.reason, diagnosis.status or status
    default = _CLASSIFICATION.get(classification, "undefined")
    diagnosis = classify(status, diagnostic, default=default)
    return bounce_kind(diagnosis, permanent=True), diagnosis.reason, diagnosis.status or status


def _dropped(diagnostic: str) -> tuple[str, str]:
    why = diagnostic.strip().lower()
    if why.startswith(_SUPPRESSED_DROPS):
        return "ignore", "suspend"
    if why == "invalid" or why.startswith("invalid address"):
        return "hard", "userunknown"
    if why.startswith("spam content"):
        return "ignore", "spamdetected"
    return "ignore", "undefined"
