"""Amazon SES bounces and complaints, delivered by Amazon SNS to an HTTPS subscription.

``verify_sns`` checks a request the way AWS's "Verifying the signatures of Amazon SNS messages"
describes: the signing certificate comes only from ``https://sns.<region>.amazonaws.com[.cn]/
....pem``, the signature (version 1: RSA PKCS#1 v1.5 with SHA-1, version 2: with SHA-256) covers
the canonical "Key\\nValue\\n" string, the timestamp is fresh and the topic is one we allow.
Raw message delivery must stay off: the signature covers SNS's envelope, not SES's JSON.

Duplicates: SNS delivers at least once, and a retry carries the same MessageId, Timestamp and
signature, so a replay store would turn a retry after our own failure into a lost event.
Instead every event's id is ``<MessageId>:<recipient>``, the same on each delivery: the caller
stores events unique on (provider, event_id) and skips ids it already has. A captured message
replayed inside ``max_age`` therefore changes nothing; after ``max_age`` it is rejected.

``parse_ses`` maps SES's bounce types (AWS's "Amazon SES notification contents"):
Permanent/General and Undetermined are decided by the diagnostic, Permanent/NoEmail is
userunknown, Permanent/Suppressed (SES's global list, kept for a recent history of bounces
elsewhere) is a soft ``suspend`` so that repeats count toward the soft-bounce limit without
one entry unsubscribing a reader, Permanent/OnAccountSuppressionList is ignored (our own
earlier bounce or complaint put it there and was recorded then), and the Transient subtypes
are soft: MailboxFull, MessageTooLarge (mesgtoobig), Content- and AttachmentRejected
(filtered). A complaint is ``feedback``, except feedback type "not-spam" and complaints about
suppressed addresses, which are ignored. Deliveries and delays come back as ``ignore``.
"""

from __future__ import annotations

import base64
import re
import threading
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from service.bounces.webhooks.common import (
    Diagnosis,
    ProviderEvent,
    WebhookRejected,
    as_dict,
    as_list,
    bounce_kind,
    check_fresh,
    classify,
    clip,
    iso_time,
    load_json,
    message_id,
    recipient,
    require_aware,
    text,
)

_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
    ),
}
_SIGNED_FIELDS["UnsubscribeConfirmation"] = _SIGNED_FIELDS["SubscriptionConfirmation"]
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
_SNS_HOST = re.compile(r"sns\.[a-z]{2,4}(?:-[a-z]+){1,3}-\d{1,2}\.amazonaws\.com(?:\.cn)?")


class FetchFailed(RuntimeError):
    """An AWS URL could not be fetched. Not the sender's fault: answer 503 so SNS retries."""


@dataclass(frozen=True)
class SnsMessage:
    type: str  # Notification, SubscriptionConfirmation or UnsubscribeConfirmation
    message_id: str
    topic_arn: str
    timestamp: datetime
    message: str
    subject: str | None
    subscribe_url: str  # confirmations only
    raw: dict = field(hash=False, repr=False)


class CertCache:
    """Parsed signing certificates by URL. AWS rotates them rarely; a few entries suffice."""

    def __init__(self, max_entries: int = 16) -> None:
        self._certs: OrderedDict[str, x509.Certificate] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries

    def get(self, url: str) -> x509.Certificate | None:
        with self._lock:
            return self._certs.get(url)

    def put(self, url: str, cert: x509.Certificate) -> None:
        with self._lock:
            self._certs[url] = cert
            while len(self._certs) > self._max:
                self._certs.popitem(last=False)


DEFAULT_CERT_CACHE = CertCache()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a redirect becomes an error: we only fetch from the host we checked


_OPENER = urllib.request.build_opener(_NoRedirects)


def fetch_url(url: str, *, timeout: float = 10.0, limit: int = 64 * 1024) -> bytes:
    """The default ``fetch_cert`` and ``fetch``: HTTPS with certificate checks, no redirects."""
    if not url.startswith("https://"):
        raise ValueError("only https URLs are fetched")
    with _OPENER.open(url, timeout=timeout) as response:
        data = response.read(limit + 1)
    if len(data) > limit:
        raise ValueError("response is too large")
    return data


def verify_sns(
    body: bytes,
    *,
    topic_allowlist: Collection[str],
    fetch_cert: Callable[[str], bytes],
    now: datetime,
    max_age: timedelta = timedelta(hours=1),
    cert_cache: CertCache = DEFAULT_CERT_CACHE,
) -> SnsMessage:
    """Verify an SNS request body; raise ``WebhookRejected`` or ``FetchFailed``."""
    require_aware(now)
    if isinstance(topic_allowlist, str):
        raise TypeError("topic_allowlist must be a collection of ARNs, not one string")
    data = as_dict(load_json(body), "SNS message")
    kind = data.get("Type")
    if not isinstance(kind, str) or kind not in _SIGNED_FIELDS:
        raise WebhookRejected(400, "Type must be Notification or a subscription confirmation")
    # "Subject" is signed only when the message has one; AWS then omits the key (or sends null).
    names = [n for n in _SIGNED_FIELDS[kind] if n != "Subject" or data.get(n) is not None]
    values = {name: text(data, name, "SNS message", required=name != "Subject") for name in names}
    digest = _HASHES.get(text(data, "SignatureVersion", "SNS message"))
    if digest is None:
        raise WebhookRejected(400, "SignatureVersion must be 1 or 2")
    try:
        signature = base64.b64decode(text(data, "Signature", "SNS message"), validate=True)
    except ValueError:  # binascii.Error, or a non-ASCII character
        raise WebhookRejected(400, "Signature is not base64") from None
    cert_url = check_sns_url(text(data, "SigningCertURL", "SNS message"), pem=True)
    _check_topic(values["TopicArn"], topic_allowlist)
    sent_at = iso_time(values["Timestamp"], "SNS message")
    check_fresh(sent_at, now, max_age)

    cert = _certificate(cert_url, fetch_cert, cert_cache, now)
    public_key = cert.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise WebhookRejected(400, "signing certificate does not hold an RSA key")
    canonical = "".join(f"{name}\n{value}\n" for name, value in values.items())
    try:
        public_key.verify(signature, canonical.encode(), padding.PKCS1v15(), digest())
    except InvalidSignature:
        raise WebhookRejected(401, "SNS signature does not match") from None
    return SnsMessage(
        type=kind,
        message_id=values["MessageId"],
        topic_arn=values["TopicArn"],
        timestamp=sent_at,
        message=values["Message"],
        subject=values.get("Subject"),
        subscribe_url=values.get("SubscribeURL", ""),
        raw=data,
    )


def check_sns_url(url: str, *, pem: bool) -> str:
    """The URL if it is ``https://sns.<region>.amazonaws.com[.cn]`` (port 443 at most);
    with ``pem``, a path ending in ``.pem`` and no query."""
    # Printable ASCII only: parsers disagree about stripped whitespace and backslashes.
    if not re.fullmatch(r"[\x21-\x5b\x5d-\x7e]{1,2048}", url):
        raise WebhookRejected(400, "URL is not an SNS URL")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookRejected(400, "URL is not an SNS URL") from None
    host = parts.hostname or ""
    if (
        parts.scheme != "https"
        or port not in (None, 443)
        or parts.netloc.lower() not in (host, f"{host}:443")
        or not _SNS_HOST.fullmatch(host)
        or (pem and (not parts.path.endswith(".pem") or parts.query or parts.fragment))
    ):
        raise WebhookRejected(400, "URL is not an https URL on sns.<region>.amazonaws.com")
    return url


def confirm_subscription(
    message: SnsMessage, fetch: Callable[[str], bytes], *, topic_allowlist: Collection[str]
) -> bytes:
    """Confirm a verified SubscriptionConfirmation by fetching its SubscribeURL."""
    if message.type != "SubscriptionConfirmation":
        raise WebhookRejected(400, "not a subscription confirmation")
    _check_topic(message.topic_arn, topic_allowlist)
    url = check_sns_url(message.subscribe_url, pem=False)
    try:
        return fetch(url)
    except Exception as exc:  # any fetcher's failure means the same: let SNS try again
        raise FetchFailed("the subscription could not be confirmed") from exc


def _check_topic(topic_arn: str, allowlist: Collection[str]) -> None:
    if isinstance(allowlist, str):
        raise TypeError("topic_allowlist must be a collection of ARNs, not one string")
    if not allowlist:
        raise WebhookRejected(401, "no SNS topics are allowed: configure the allowed topic ARNs")
    if topic_arn not in allowlist:
        raise WebhookRejected(401, "SNS topic is not allowed")


def _certificate(
    url: str, fetch: Callable[[str], bytes], cache: CertCache, now: datetime
) -> x509.Certificate:
    cert = cache.get(url)
    if cert is None or not _valid_at(cert, now):  # an expired cached one may have been replaced
        try:
            pem = fetch(url)
        except Exception as exc:  # any fetcher's failure means the same: let SNS try again
            raise FetchFailed("the SNS signing certificate could not be fetched") from exc
        try:
            cert = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise WebhookRejected(400, "signing certificate is not a PEM certificate") from None
        cache.put(url, cert)
    if not _valid_at(cert, now):
        raise WebhookRejected(401, "signing certificate is expired or not yet valid")
    return cert


def _valid_at(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def parse_ses(message: SnsMessage) -> list[ProviderEvent]:
    """The SES events in a verified notification; [] for confirmations and other SES events."""
    if message.type != "Notification":
        return []
    ses = as_dict(load_json(message.message), "SES notification")
    kind = ses.get("notificationType") or ses.get("eventType")
    mail = as_dict(ses.get("mail") or {}, "SES mail")
    original_id = message_id(_header_message_id(mail) or text(mail, "messageId", "SES mail"))
    if kind == "Bounce":
        detail = as_dict(ses.get("bounce"), "SES bounce")
        items = detail.get("bouncedRecipients")
    elif kind == "Complaint":
        detail = as_dict(ses.get("complaint"), "SES complaint")
        items = detail.get("complainedRecipients")
    elif kind == "Delivery":  # recipients are plain addresses here
        detail = as_dict(ses.get("delivery"), "SES delivery")
        items = [{"emailAddress": r} for r in as_list(detail.get("recipients"), "SES delivery")]
    elif kind == "DeliveryDelay":
        detail = as_dict(ses.get("deliveryDelay"), "SES delivery delay")
        items = detail.get("delayedRecipients")
    else:
        return []
    stamp = text(detail, "timestamp", f"SES {kind}")
    occurred_at = iso_time(stamp, f"SES {kind}") if stamp else None
    events: dict[str, ProviderEvent] = {}
    for item in as_list(items, f"SES {kind} recipients"):
        item = as_dict(item, f"SES {kind} recipient")
        address = recipient(item.get("emailAddress"), f"SES {kind}")
        status = text(item, "status", f"SES {kind}")
        diagnostic = text(item, "diagnosticCode", f"SES {kind}")
        event_kind, reason, status = _ses_kind(kind, detail, status, diagnostic)
        event_id = f"{message.message_id}:{address}"
        events.setdefault(event_id, ProviderEvent(
            "ses", event_id, event_kind, reason, address, status, clip(diagnostic),
            original_id, occurred_at, ses,
        ))
    return list(events.values())


def _header_message_id(mail: dict) -> str:
    headers = mail.get("headers")
    for header in headers if isinstance(headers, list) else []:
        if isinstance(header, dict) and str(header.get("name", "")).lower() == "message-id":
            return text(header, "value", "SES mail header")
    common = mail.get("commonHeaders")
    return text(common, "messageId", "SES common headers") if isinstance(common, dict) else ""


_FIXED = {  # subtypes whose meaning does not depend on the diagnostic
    ("Permanent", "Suppressed"): ("soft", "suspend"),
    ("Permanent", "OnAccountSuppressionList"): ("ignore", "suspend"),
    ("Transient", "MailboxFull"): ("soft", "mailboxfull"),
    ("Transient", "MessageTooLarge"): ("soft", "mesgtoobig"),
    ("Transient", "ContentRejected"): ("soft", "filtered"),
    ("Transient", "AttachmentRejected"): ("soft", "filtered"),
}


def _ses_kind(kind: str, detail: dict, status: str, diagnostic: str) -> tuple[str, str, str]:
    if kind == "Complaint":
        feedback = text(detail, "complaintFeedbackType", "SES complaint").lower()
        suppressed = text(detail, "complaintSubType", "SES complaint") == "OnAccountSuppressionList"
        counts = feedback != "not-spam" and not suppressed
        return ("complaint" if counts else "ignore"), "feedback", status
    if kind == "Delivery":
        return "ignore", "delivered", status
    diagnosis = classify(status, diagnostic)
    if kind == "DeliveryDelay":  # SES is still trying; the outcome arrives as its own event
        return "ignore", diagnosis.reason, diagnosis.status
    bounce_type = text(detail, "bounceType", "SES bounce")
    subtype = text(detail, "bounceSubType", "SES bounce")
    if fixed := _FIXED.get((bounce_type, subtype)):
        return (*fixed, diagnosis.status or status)
    if (bounce_type, subtype) == ("Permanent", "NoEmail"):
        # SES found that the address does not exist; only a code naming the domain says more.
        diagnosis = classify(status, diagnostic, default="userunknown")
        if diagnosis.reason not in ("userunknown", "hostunknown"):
            diagnosis = Diagnosis("userunknown", diagnosis.status, diagnosis.temporary)
    # Only SES's own "Permanent" may make a bounce hard: Transient and Undetermined (SES could
    # not tell) never do, whatever the diagnostic says.
    permanent = bounce_type == "Permanent"
    return bounce_kind(diagnosis, permanent=permanent), diagnosis.reason, diagnosis.status
