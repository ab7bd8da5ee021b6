"""Verified bounce and complaint webhooks from mail providers, as plain functions.

Each ``verify_*`` takes the raw request body (the exact bytes: signatures cover them) and
what it needs from headers and settings, and returns ``ProviderEvent`` values or raises
``WebhookRejected`` with the HTTP status to answer (400 or 401). Nothing here keeps state
except the replay store passed in; the HTTP views and storage live elsewhere.

Callers store events unique on (provider, event_id) and skip ids they already have: that,
not the replay store, is what makes a provider's retry harmless. The replay store only
refuses a signed request seen before, while its signature would still be fresh.
"""

from service.bounces.webhooks.common import (
    HARD_REASONS,
    KINDS,
    REASONS,
    MemoryReplayStore,
    ProviderEvent,
    RedisReplayStore,
    ReplayStore,
    WebhookRejected,
)
from service.bounces.webhooks.generic import sign_generic, verify_generic
from service.bounces.webhooks.mailgun import verify_mailgun
from service.bounces.webhooks.postmark import verify_postmark
from service.bounces.webhooks.sendgrid import load_public_key, verify_sendgrid
from service.bounces.webhooks.sns import (
    CertCache,
    FetchFailed,
    SnsMessage,
    confirm_subscription,
    fetch_url,
    parse_ses,
    verify_sns,
)

__all__ = [
    "HARD_REASONS", "KINDS", "REASONS", "CertCache", "FetchFailed", "MemoryReplayStore",
    "ProviderEvent", "RedisReplayStore", "ReplayStore", "SnsMessage", "WebhookRejected",
    "confirm_subscription", "fetch_url", "load_public_key", "parse_ses", "sign_generic",
    "verify_generic", "verify_mailgun", "verify_postmark", "verify_sendgrid", "verify_sns",
]
