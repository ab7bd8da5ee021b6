"""Postmark bounce and spam-complaint webhooks, authenticated by HTTP basic auth.

Postmark signs nothing; it sends the user name and password given in the webhook URL
(``https://user:password@host/path``). Without a timestamp there is no replay window, so
duplicates are left to ``event_id`` (the bounce's ``ID``): store events unique on
(provider, event_id). Records other than Bounce and SpamComplaint (Delivery, Open, Click,
SubscriptionChange) carry no bounce ID and return no events.

Mapping of the bounce ``Type`` (Postmark's "Bounce types"). Only ``Details`` is read for the
reason: ``Description`` is the type's fixed blurb, and HardBounce's ("unknown user, mailbox
not found") would make every hard bounce look like a user-unknown one.

- HardBounce: from Details, else userunknown, which is how Postmark defines the type (it has
  separate types for DNS, spam, blocks); hard only for an address-level reason.
- BadEmailAddress: hard userunknown. Unknown (and types we do not know): from Details.
- SoftBounce: soft, from Details. DnsError: soft, from Details, else networkerror (Postmark
  calls it temporary). Blocked: soft, from Details, else blocked. DMARCPolicy: soft,
  authfailure. SpamNotification: soft, spamdetected. VirusNotification and
  ChallengeVerification: soft, filtered.
- Transient (a delay notice; the outcome comes later): ignore, from Details.
  AutoResponder: ignore, vacation. AddressChange: ignore, hasmoved (the old address may work).
  ManuallyDeactivated: ignore, suspend (an operator's decision in Postmark).
  Subscribe, OpenRelayTest, Unconfirmed: ignore, undefined. SMTPApiError, InboundError,
  TemplateRenderingFailed (our side, not the reader's address): ignore, systemerror.
- SpamComplaint and Unsubscribe (the reader asked to be removed): complaint, feedback.
"""

from __future__ import annotations

import base64
import hmac

from service.bounces.webhooks.common import (
    ProviderEvent,
    WebhookRejected,
    as_dict,
    bounce_kind,
    classify,
    clip,
    iso_time,
    load_json,
    message_id,
    recipient,
    text,
)

# Type: (default reason, permanent) for types whose reason comes from Details.
_DERIVED: dict[str, tuple[str, bool | None]] = {
    "HardBounce": ("userunknown", True), "SoftBounce": ("undefined", False),
    "DnsError": ("networkerror", False), "Blocked": ("blocked", False),
    "Transient": ("undefined", False), "Unknown": ("undefined", None),
}
# Type: (kind, reason) for types that say all there is to say.
_FIXED = {
    "BadEmailAddress": ("hard", "userunknown"), "DMARCPolicy": ("soft", "authfailure"),
    "SpamNotification": ("soft", "spamdetected"), "VirusNotification": ("soft", "filtered"),
    "ChallengeVerification": ("soft", "filtered"), "AutoResponder": ("ignore", "vacation"),
    "AddressChange": ("ignore", "hasmoved"), "ManuallyDeactivated": ("ignore", "suspend"),
    "Subscribe": ("ignore", "undefined"), "OpenRelayTest": ("ignore", "undefined"),
    "Unconfirmed": ("ignore", "undefined"), "SMTPApiError": ("ignore", "systemerror"),
    "InboundError": ("ignore", "systemerror"), "TemplateRenderingFailed": ("ignore", "systemerror"),
    "SpamComplaint": ("complaint", "feedback"), "Unsubscribe": ("complaint", "feedback"),
}


def verify_postmark(
    body: bytes, authorization_header: str | None, *, username: str, password: str
) -> list[ProviderEvent]:
    """Check basic auth, then return the record's events; raise ``WebhookRejected``."""
    if not username or not password:
        raise WebhookRejected(401, "Postmark webhook credentials are not configured")
    if not _authorized(authorization_header or "", username, password):
        raise WebhookRejected(401, "Postmark webhook credentials do not match")
    data = load_json(body)
    records = data if isinstance(data, list) else [data]
    events: dict[str, ProviderEvent] = {}
    for record in records:
        event = _event(as_dict(record, "Postmark record"))
        if event is not None:
            events.setdefault(event.event_id, event)
    return list(events.values())


def _authorized(header: str, username: str, password: str) -> bool:
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except ValueError:  # binascii.Error, or a non-ASCII character
        return False
    given_user, colon, given_password = decoded.partition(b":")
    # Both are compared whatever the first says, so timing tells nothing about either.
    user_ok = hmac.compare_digest(given_user, username.encode())
    password_ok = hmac.compare_digest(given_password, password.encode())
    return bool(colon) and user_ok and password_ok


def _event(data: dict) -> ProviderEvent | None:
    record_type = data.get("RecordType")
    if record_type not in ("Bounce", "SpamComplaint"):
        return None
    where = f"Postmark {record_type}"
    event_id = text(data, "ID", where, required=True)
    address = recipient(data.get("Email"), where)
    bounce_type = "SpamComplaint" if record_type == "SpamComplaint" else text(
        data, "Type", where, required=True
    )
    details = text(data, "Details", where)
    stamp = text(data, "BouncedAt", where)
    occurred_at = iso_time(stamp, where) if stamp else None
    if bounce_type in _FIXED:
        (kind, reason), status = _FIXED[bounce_type], classify("", details).status
    else:
        default, permanent = _DERIVED.get(bounce_type, ("undefined", None))
        diagnosis = classify("", details, default=default)
        reason, status = diagnosis.reason, diagnosis.status
        # A Transient record is a delay notice: the outcome arrives as a record of its own.
        transient = bounce_type == "Transient"
        kind = "ignore" if transient else bounce_kind(diagnosis, permanent=permanent)
    return ProviderEvent(
        "postmark", event_id, kind, reason, address, status, clip(details),
        message_id(text(data, "MessageID", where)), occurred_at, data,
    )
