"""Which delivery a bounce is about: the signed VERP token first, then the original
Message-ID, then the recipient plus the List-Id.

Only the VERP token is signed. A Message-ID (``<nl.<send>.<delivery>.<attempt>@domain>``) or
a List-Id can be written by anyone who mails the bounce address, so they are believed only
when they agree with the rest: the Message-ID's domain must be ours and the recipient the
bounce names (if any) must be that delivery's reader. A recipient alone is believed only from
a verified provider webhook.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.sending.models import Delivery
from service.subscribers.models import MailingList, Subscriber
from service.tokens import TokenError, TokenSigner

VERP_PREFIX = "bounces+"
VERP_PURPOSE = "verp"
# The Message-ID the sender gives every issue email: <nl.{send}.{delivery}.{attempt}@domain>.
OUR_MESSAGE_ID = re.compile(r"^nl\.(\d{1,10})\.(\d{1,10})\.(\d{1,6})@(.+)$", re.IGNORECASE)


class ForgedToken(ValueError):
    """A VERP token whose signature does not verify: the mail is not believed at all."""


@dataclass(frozen=True)
class Clues:
    """What a bounce says about the message it returns; every field may be empty."""

    verp_token: str = ""  # the token after "bounces+", unverified
    message_id: str = ""  # the original's Message-ID, without angle brackets
    list_id: str = ""  # the original's List-Id, the part inside <...>
    recipient: str = ""  # the failed recipient the bounce names
    delivery_id: int | None = None  # known for sure (the ledger's own refusal)
    trusted_recipient: bool = False  # a verified provider vouches for the recipient


@dataclass(frozen=True)
class Target:
    delivery: Delivery | None
    subscriber: Subscriber | None
    matched_by: str  # verp, message-id, list-id, recipient, ledger; "" when nothing matched


NOWHERE = Target(None, None, "")


def verp_token(local_part: str) -> str:
    """The token of a ``bounces+<token>`` local part, else ''."""
    if local_part.lower().startswith(VERP_PREFIX):
        return local_part[len(VERP_PREFIX):]
    return ""


def verify_verp(signer: TokenSigner, token: str) -> int:
    """The delivery id a VERP token names; ForgedToken when its signature is wrong."""
    try:
        numbers = signer.verify_short(VERP_PURPOSE, token)
    except TokenError:
        raise ForgedToken("forged or damaged VERP token") from None
    if len(numbers) != 1:
        raise ForgedToken("a VERP token names one delivery")
    return numbers[0]


def locate(session: Session, signer: TokenSigner, clues: Clues, domain: str) -> Target:
    """The delivery and subscriber a bounce is about. ``domain`` is our Message-ID and List-Id
    domain. Raises ForgedToken for a token that does not verify."""
    if clues.delivery_id is not None:
        return _by_delivery(session, clues.delivery_id, "ledger")
    if clues.verp_token:
        return _by_delivery(session, verify_verp(signer, clues.verp_token), "verp")
    recipient = clues.recipient.strip().lower()
    found = _by_message_id(session, clues.message_id, domain, recipient)
    if found.delivery is not None or not recipient:
        return found
    subscriber = session.scalars(
        select(Subscriber).where(Subscriber.email_key == recipient)).one_or_none()
    if subscriber is None:
        return NOWHERE
    mailing_list = _list_of(session, clues.list_id, domain)
    delivery = _latest(session, subscriber.id, mailing_list.id) if mailing_list else None
    if delivery is not None:
        return Target(delivery, subscriber, "list-id")
    if clues.trusted_recipient:
        return Target(_latest(session, subscriber.id), subscriber, "recipient")
    return NOWHERE


def _by_delivery(session: Session, delivery_id: int, how: str) -> Target:
    delivery = session.get(Delivery, delivery_id) if delivery_id < 2**31 else None
    if delivery is None:
        return Target(None, None, how)
    return Target(delivery, session.get(Subscriber, delivery.subscriber_id), how)


def _by_message_id(session: Session, message_id: str, domain: str, recipient: str) -> Target:
    match = OUR_MESSAGE_ID.match(message_id.strip())
    if not match or match.group(4).lower() != domain.lower():
        return NOWHERE
    send_id, delivery_id = int(match.group(1)), int(match.group(2))
    found = _by_delivery(session, delivery_id, "message-id")
    if found.delivery is None or found.delivery.send_id != send_id or found.subscriber is None:
        return NOWHERE
    if recipient and found.subscriber.email_key != recipient:
        return NOWHERE
    return found


def _list_of(session: Session, list_id: str, domain: str) -> MailingList | None:
    suffix = f".{domain.lower()}"
    list_id = list_id.strip().lower()
    if not list_id.endswith(suffix) or len(list_id) <= len(suffix):
        return None
    slug = list_id[: -len(suffix)]
    return session.scalars(select(MailingList).where(MailingList.slug == slug)).one_or_none()


def _latest(session: Session, subscriber_id: int, list_id: int | None = None) -> Delivery | None:
    """The subscriber's newest delivery (of that list) that went out."""
    query = select(Delivery).where(Delivery.subscriber_id == subscriber_id,
                                   Delivery.sent_at.is_not(None))
    if list_id is not None:
        query = query.where(Delivery.list_id == list_id)
    return session.scalars(query.order_by(Delivery.id.desc()).limit(1)).one_or_none()
