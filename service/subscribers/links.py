"""The signed links a subscriber receives: confirm, unsubscribe, preferences.

Each token names the subscriber (to unsubscribe, the list; to confirm, the lists that were
pending when it was made) and carries a short hash of the address, so a token outlives
neither the subscriber it was made for nor a reused id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from service.subscribers.models import Subscriber
from service.tokens import TokenError, TokenSigner

ALL_LISTS = 0
# Ids are 32-bit integers in the database; a bigger number in a token names nothing.
MAX_ID = 2**31 - 1


def _fingerprint(email_key: str) -> str:
    return hashlib.sha256(email_key.encode("utf-8")).hexdigest()[:10]


def make_token(signer: TokenSigner, purpose: str, subscriber_id: int, email_key: str,
               list_id: int | Iterable[int] = ALL_LISTS) -> str:
    """A token naming a subscriber and one list (or ALL_LISTS), or several lists."""
    lists = str(list_id) if isinstance(list_id, int) else ".".join(str(n) for n in sorted(list_id))
    return signer.sign(purpose, f"{subscriber_id}:{lists or ALL_LISTS}:{_fingerprint(email_key)}")


@dataclass(frozen=True)
class TokenTarget:
    subscriber: Subscriber
    list_id: int  # ALL_LISTS when the token is not about one list
    list_ids: tuple[int, ...] = ()  # every list the token names (a confirm token's lists)


def _number(text: str) -> int:
    if not (text.isascii() and text.isdecimal() and len(text) <= 10 and int(text) <= MAX_ID):
        raise ValueError(text)
    return int(text)


def _parse(payload: str) -> tuple[int, tuple[int, ...], str]:
    try:
        subscriber_id, lists, fingerprint = payload.split(":")
        return _number(subscriber_id), tuple(_number(n) for n in lists.split(".")), fingerprint
    except ValueError:
        raise TokenError("invalid") from None


def _target(session: Session, subscriber_id: int, list_ids: tuple[int, ...],
            fingerprint: str) -> TokenTarget:
    subscriber = session.get(Subscriber, subscriber_id) if subscriber_id else None
    if subscriber is None or _fingerprint(subscriber.email_key) != fingerprint:
        raise TokenError("unknown")
    named = tuple(n for n in list_ids if n != ALL_LISTS)
    return TokenTarget(subscriber, named[0] if len(named) == 1 else ALL_LISTS, named)


def resolve_token(session: Session, signer: TokenSigner, purpose: str, token: str) -> TokenTarget:
    """The subscriber a token names. TokenError('invalid' | 'expired' | 'unknown')."""
    return _target(session, *_parse(signer.verify(purpose, token)))


def resolve_expired(session: Session, error: TokenError) -> TokenTarget | None:
    """The subscriber an expired but genuine token named, to mail them a fresh link; else None."""
    if error.reason != "expired" or error.payload is None:
        return None
    try:
        return _target(session, *_parse(error.payload))
    except TokenError:
        return None


MAILTO_PREFIX = "unsubscribe-"


@dataclass(frozen=True)
class LinkBuilder:
    """Absolute URLs for one site; one signer shared by every recipient of a send."""

    base_url: str
    signer: TokenSigner
    mailto_domain: str = ""  # where `newsletter inbound` receives mail; empty: no mailto link

    def confirm_url(self, subscriber: Subscriber, list_ids: Iterable[int] = ()) -> str:
        """A link that confirms exactly ``list_ids``: the lists pending when it is made."""
        token = make_token(self.signer, "confirm", subscriber.id, subscriber.email_key,
                           tuple(list_ids))
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
    if len(numbers) != 2 or not 0 < numbers[0] <= MAX_ID or numbers[1] > MAX_ID:
        raise TokenError("invalid")
    subscriber = session.get(Subscriber, numbers[0])
    if subscriber is None:
        raise TokenError("unknown")
    signer.verify_short("unsubscribe-mailto", token, subscriber.email_key)
    return TokenTarget(subscriber, numbers[1])
