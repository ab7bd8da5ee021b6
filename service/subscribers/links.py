"""The signed links a subscriber receives: confirm, unsubscribe, preferences.

Each token names the subscriber (and, to unsubscribe, the list) and carries a short hash of
the address, so a token outlives neither the subscriber it was made for nor a reused id.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy.orm import Session

from service.subscribers.models import Subscriber
from service.tokens import TokenError, TokenSigner

ALL_LISTS = 0


def _fingerprint(email_key: str) -> str:
    return hashlib.sha256(email_key.encode("utf-8")).hexdigest()[:10]


def make_token(signer: TokenSigner, purpose: str, subscriber_id: int, email_key: str,
               list_id: int = ALL_LISTS) -> str:
    return signer.sign(purpose, f"{subscriber_id}:{list_id}:{_fingerprint(email_key)}")


@dataclass(frozen=True)
class TokenTarget:
    subscriber: Subscriber
    list_id: int  # ALL_LISTS when the token is not about one list


def resolve_token(session: Session, signer: TokenSigner, purpose: str, token: str) -> TokenTarget:
    """The subscriber a token names. TokenError('invalid' | 'expired' | 'unknown')."""
    payload = signer.verify(purpose, token)
    try:
        subscriber_id, list_id, fingerprint = payload.split(":")
        subscriber = session.get(Subscriber, int(subscriber_id))
        list_number = int(list_id)
    except ValueError:
        raise TokenError("invalid") from None
    if subscriber is None or _fingerprint(subscriber.email_key) != fingerprint:
        raise TokenError("unknown")
    return TokenTarget(subscriber, list_number)


MAILTO_PREFIX = "unsubscribe-"


@dataclass(frozen=True)
class LinkBuilder:
    """Absolute URLs for one site; one signer shared by every recipient of a send."""

    base_url: str
    signer: TokenSigner
    mailto_domain: str = ""  # where `newsletter inbound` receives mail; empty: no mailto link

    def confirm_url(self, subscriber: Subscriber) -> str:
        token = make_token(self.signer, "confirm", subscriber.id, subscriber.email_key)
        return f"{self.base_url}/confirm/{token}"

    def unsubscribe_url(self, subscriber_id: int, email_key: str, list_id: int = ALL_LISTS) -> str:
        token = make_token(self.signer, "unsubscribe", subscriber_id, email_key, list_id)
        return f"{self.base_url}/unsubscribe/{token}"

    def preferences_url(self, subscriber_id: int, email_key: str) -> str:
        token = make_token(self.signer, "preferences", subscriber_id, email_key)
        return f"{self.base_url}/preferences/{token}"

    def unsubscribe_mailto(self, subscriber_id: int, email_key: str, list_id: int = ALL_LISTS) -> str:
        """The mailto: half of List-Unsubscribe, or "" when no inbound domain is set."""
        if not self.mailto_domain:
            return ""
        token = self.signer.sign_short("unsubscribe-mailto", (subscriber_id, list_id), email_key)
        return f"mailto:{MAILTO_PREFIX}{token}@{self.mailto_domain}?subject=unsubscribe"


def resolve_mailto(session: Session, signer: TokenSigner, local_part: str) -> TokenTarget:
    """The subscriber and list an ``unsubscribe-<token>`` local part names."""
    if not local_part.lower().startswith(MAILTO_PREFIX):
        raise TokenError("invalid")
    token = local_part[len(MAILTO_PREFIX) :]
    numbers = signer.read_short(token)
    if len(numbers) != 2:
        raise TokenError("invalid")
    subscriber = session.get(Subscriber, numbers[0])
    if subscriber is None:
        raise TokenError("unknown")
    signer.verify_short("unsubscribe-mailto", token, subscriber.email_key)
    return TokenTarget(subscriber, numbers[1])
