"""What every provider's webhook verifier shares: the event, the rejection, replay stores,
reading untrusted JSON, time checks, and the mapping from SMTP diagnostics to bounce reasons.

Nothing here touches Flask or the database; the HTTP layer turns ``WebhookRejected`` into a
response with its ``status`` and stores the returned ``ProviderEvent`` values.
"""

from __future__ import annotations

import hmac
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Any, NamedTuple, Protocol

KINDS = frozenset({"hard", "soft", "complaint", "ignore"})
REASONS = frozenset({
    "userunknown", "hostunknown", "hasmoved", "notaccept", "mailboxfull", "filtered", "blocked",
    "spamdetected", "policyviolation", "expired", "suspend", "mesgtoobig", "authfailure",
    "networkerror", "systemerror", "feedback", "vacation", "delivered", "undefined",
})
# Only these say the address itself is gone; everything else may pass, so it stays soft.
HARD_REASONS = frozenset({"userunknown", "hostunknown", "hasmoved", "notaccept"})
# Senders' clocks drift; a timestamp this far ahead of ours is still believed.
FUTURE_SKEW = timedelta(minutes=5)
# Diagnostics are shown to people and stored; the provider's raw JSON keeps the whole text.
DIAGNOSTIC_LIMIT = 1000


class WebhookRejected(Exception):
    """The request is not accepted. ``status`` is 400 (malformed, or unusable signing data)
    or 401 (signature, credentials, freshness or replay check failed); ``message`` is safe
    to send back to the caller, it never contains secrets."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ProviderEvent:
    """One provider event about one recipient, in our vocabulary (see the module docstrings
    of each provider for how its types map onto ``kind`` and ``reason``)."""

    provider: str
    event_id: str  # unique per provider: store (provider, event_id) uniquely to dedup
    kind: str
    reason: str
    recipient: str
    status: str
    diagnostic: str
    message_id: str  # without angle brackets
    occurred_at: datetime | None
    raw: dict = field(hash=False, repr=False)

    def __post_init__(self) -> None:
        # A mapping bug must fail loudly in tests, not store a word nobody reads.
        if self.kind not in KINDS or self.reason not in REASONS:
            raise ValueError(f"bad kind/reason {self.kind!r}/{self.reason!r}")


class ReplayStore(Protocol):
    def seen(self, key: str, ttl_seconds: int) -> bool:
        """Record key; return True when it was already recorded (a replay)."""
        ...


class MemoryReplayStore:
    """A per-process replay store for development and tests; use Redis with several workers,
    since each process would otherwise accept a request another one has already seen."""

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, purge_at: int = 10_000
    ) -> None:
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()
        self._purge_at = purge_at

    def seen(self, key: str, ttl_seconds: int) -> bool:
        now = self._clock()
        with self._lock:
            expiry = self._expiry.get(key)
            if expiry is not None and expiry > now:
                return True
            if len(self._expiry) >= self._purge_at:
                self._purge(now)
            self._expiry[key] = now + max(1, ttl_seconds)
            return False

    def __len__(self) -> int:
        with self._lock:
            return len(self._expiry)

    def _purge(self, now: float) -> None:
        self._expiry = {k: v for k, v in self._expiry.items() if v > now}
        # Unexpired keys are never dropped (that would re-open a replay), so when many are
        # live, wait for twice as many before scanning again instead of scanning every call.
        self._purge_at = max(self._purge_at, 2 * len(self._expiry))


class RedisReplayStore:
    """Replay keys in Redis: ``SET key 1 NX EX ttl`` records and tests in one atomic step, so
    two workers given the same request cannot both accept it."""

    def __init__(self, client: Any, prefix: str = "newsletter:webhook-replay:") -> None:
        self._client = client
        self._prefix = prefix

    @classmethod
    def from_url(cls, url: str, prefix: str = "newsletter:webhook-replay:") -> RedisReplayStore:
        import redis  # lazily: only deployments that keep replay keys in Redis need it

        return cls(redis.Redis.from_url(url), prefix)

    def seen(self, key: str, ttl_seconds: int) -> bool:
        created = self._client.set(self._prefix + key, 1, nx=True, ex=max(1, int(ttl_seconds)))
        return not created


def replay_ttl(max_age: timedelta) -> int:
    """Seconds a replay key must live: as long as any timestamp it was signed with is fresh."""
    return int((max_age + FUTURE_SKEW).total_seconds()) + 1


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison that never raises: ``compare_digest`` rejects non-ASCII str."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def require_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")


def check_fresh(sent_at: datetime, now: datetime, max_age: timedelta) -> None:
    if sent_at < now - max_age:
        raise WebhookRejected(401, "timestamp is too old")
    if sent_at > now + FUTURE_SKEW:
        raise WebhookRejected(401, "timestamp is in the future")


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def load_json(body: bytes | str) -> Any:
    try:
        return json.loads(body, parse_constant=_no_constants)
    except (ValueError, RecursionError):  # deep nesting overflows the parser's stack
        raise WebhookRejected(400, "body is not valid JSON") from None


def as_dict(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise WebhookRejected(400, f"{where} must be a JSON object")
    return value


def as_list(value: Any, where: str) -> list:
    if not isinstance(value, list):
        raise WebhookRejected(400, f"{where} must be a JSON array")
    return value


def text(obj: Mapping, key: str, where: str, *, required: bool = False) -> str:
    """A string field; integers are accepted as their decimal text (Postmark's IDs are)."""
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise WebhookRejected(400, f"{where}: {key} is missing")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise WebhookRejected(400, f"{where}: {key} must be a string")
    value = str(value)
    try:
        value.encode()  # a JSON "\\ud800" escape decodes to a lone surrogate no database stores
    except UnicodeEncodeError:
        raise WebhookRejected(400, f"{where}: {key} is not valid Unicode") from None
    return value


def recipient(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise WebhookRejected(400, f"{where}: recipient is missing")
    address = parseaddr(value)[1] if "<" in value else value.strip()
    local, at, domain = address.rpartition("@")
    if not (local and at and domain) or len(address) > 320 or not address.isprintable() or any(
        c.isspace() for c in address
    ):
        raise WebhookRejected(400, f"{where}: recipient is not an address")
    return address.lower()


def message_id(value: str) -> str:
    return value.strip().removeprefix("<").removesuffix(">")


def unix_time(value: Any, where: str) -> datetime:
    """Seconds since the epoch, as a number or a string of digits (headers carry strings)."""
    if isinstance(value, str) and re.fullmatch(r"\d{1,12}(?:\.\d{1,9})?", value):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WebhookRejected(400, f"{where}: timestamp must be seconds since the epoch")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise WebhookRejected(400, f"{where}: timestamp is out of range") from None


def iso_time(value: str, where: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise WebhookRejected(400, f"{where}: timestamp is not ISO 8601") from None
    # SES and Postmark always send an offset; a bare time is taken as UTC rather than local.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class Diagnosis(NamedTuple):
    reason: str
    status: str  # the enhanced status code that decided, else the first one seen, else ""
    temporary: bool  # the code class was 4: the receiving server said "try again"


# Enhanced status codes (RFC 3463 and the IANA registry) by "subject.detail". Checked first:
# a precise code beats any wording.
_SPECIFIC = {
    "1.1": "userunknown", "1.2": "hostunknown", "1.3": "userunknown", "1.6": "hasmoved",
    "1.10": "notaccept", "2.1": "suspend", "2.2": "mailboxfull", "2.3": "mesgtoobig",
    "3.1": "systemerror", "3.2": "systemerror", "3.4": "mesgtoobig", "3.5": "systemerror",
    "4.1": "networkerror", "4.2": "networkerror", "4.3": "networkerror", "4.4": "hostunknown",
    "4.6": "networkerror", "4.7": "expired", "7.13": "suspend", "7.20": "authfailure",
    "7.21": "authfailure", "7.22": "authfailure", "7.23": "authfailure",
    "7.24": "authfailure", "7.25": "blocked", "7.26": "authfailure", "7.28": "blocked",
}
# Codes that servers use for almost anything; consulted only when the wording says nothing.
_GENERIC = {"7.0": "policyviolation", "7.1": "blocked", "5.0": "systemerror"}
_USER_UNKNOWN = (
    r"user unknown|unknown user|recipient unknown|unknown recipient|recipientnotfound"
    r"|no such (?:user|mailbox|recipient|address)|does not exist|doesn't exist"
    r"|(?:user|mailbox|recipient|address) not found|invalid (?:recipient|mailbox)"
    r"|not a valid (?:mailbox|recipient|user)"
)
# Wording hints, first match wins: lists before "spam" (Spamhaus), domains before users
# ("domain does not exist"), mailbox size before message size.
_HINTS = [(reason, re.compile(pattern)) for reason, pattern in [
    ("blocked", r"spamhaus|spamcop|barracuda|black ?list|block ?list|dnsbl|\brbl\b"),
    ("authfailure", r"\bdmarc\b|\bspf\b|\bdkim\b|unauthenticated"),
    ("hostunknown", r"host (?:or domain name )?not found|host unknown|unknown host|no such domain"
                    r"|domain(?: [\w.-]+)? (?:not found|does not exist|doesn't exist)"
                    r"|nonexistent domain|unrouteable address|\bnxdomain\b"),
    ("userunknown", _USER_UNKNOWN),
    ("hasmoved", r"has (?:been )?moved|moved permanently"),
    ("suspend", r"disabled|suspended|deactivated|inactive|account (?:has been )?(?:closed|locked)"),
    ("mailboxfull", r"mailbox (?:is )?full|full mailbox|quota|mailbox size|insufficient (?:disk )?"
                    r"space|out of storage"),
    ("mesgtoobig", r"too (?:large|big)|message size|size (?:limit|exceed)"),
    ("spamdetected", r"spam|junk|unsolicited"),
    ("filtered", r"filtered|content rejected|virus|malware|attachment"),
    ("expired", r"expired|retry time|retry timeout|too long in (?:the )?queue"),
    ("networkerror", r"timed? ?out|connection (?:refused|reset|closed|lost)|unreachable"
                     r"|network|temporary lookup failure|\bdns\b"),
    ("blocked", r"blocked|denied|refused|reputation|banned"),
    ("policyviolation", r"policy|prohibited|not allowed"),
    ("vacation", r"out of (?:the )?office|auto[- ]?reply|vacation"),
    ("systemerror", r"system error|internal error|server error|local error"),
]]
_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_BASIC = re.compile(r"(?<![\d.])([245])\d\d(?![\d.])")


def classify(status: str, diagnostic: str, default: str = "undefined") -> Diagnosis:
    """Our reason for an SMTP status and diagnostic: precise enhanced code, then wording,
    then catch-all codes, then the provider's own category (``default``)."""
    text = diagnostic[:DIAGNOSTIC_LIMIT].lower()
    both = f"{status[:20]} {text}"
    codes = [m.group(0) for m in _ENHANCED.finditer(both)]
    basic = _BASIC.search(both)
    klass = codes[0][0] if codes else basic.group(1) if basic else ""
    for code in codes:
        if reason := _SPECIFIC.get(code.split(".", 1)[1]):
            # 5.1.10 is "null MX" (RFC 7505), but Microsoft sends it for unknown recipients.
            if reason == "notaccept" and re.search(_USER_UNKNOWN, text):
                reason = "userunknown"
            return Diagnosis(reason, code, code[0] == "4")
    first = codes[0] if codes else ""
    for reason, pattern in _HINTS:
        if pattern.search(text):
            return Diagnosis(reason, first, klass == "4")
    for code in codes:
        if reason := _GENERIC.get(code.split(".", 1)[1]):
            return Diagnosis(reason, code, code[0] == "4")
    return Diagnosis(default, first, klass == "4")


def bounce_kind(diagnosis: Diagnosis, *, permanent: bool | None) -> str:
    """Hard only for an address-level reason that neither the provider (``permanent`` False)
    nor the receiving server (a 4.x.x code) called temporary."""
    hard = diagnosis.reason in HARD_REASONS and permanent is not False and not diagnosis.temporary
    return "hard" if hard else "soft"


def clip(diagnostic: str) -> str:
    return diagnostic.strip()[:DIAGNOSTIC_LIMIT]
