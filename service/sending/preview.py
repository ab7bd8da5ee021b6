"""One issue for one address: the ``newsletter render`` command and, later, test sends."""

from __future__ import annotations

from sqlalchemy import select

from service.config import Config
from service.db import Database
from service.issues.compile import CompiledEmail
from service.issues.personalise import recipient_values
from service.mail.message import smtp_address
from service.sending.assembly import MessageTemplate, Recipient, list_id_header
from service.sending.dkim_signing import DkimSigner
from service.subscribers.addresses import InvalidAddress, normalise_address
from service.subscribers.links import ALL_LISTS, LinkBuilder
from service.subscribers.models import MailingList, Subscription
from service.subscribers.services import find_subscriber


class RecipientError(ValueError):
    """The address cannot receive mail."""


def personal_values(
    links: LinkBuilder, compiled: CompiledEmail, address: str, name: str = "",
    subscriber_id: int = 0, list_id: int = ALL_LISTS,
) -> dict[str, str]:
    """The slot values for one recipient. An address that is no subscriber gets links that
    lead to a 'no longer exists' page rather than to someone else's subscription."""
    key = address.lower()
    return recipient_values(
        email=address,
        name=name,
        unsubscribe_url=links.unsubscribe_url(subscriber_id, key, list_id),
        preferences_url=links.preferences_url(subscriber_id, key),
        web_url=f"{links.base_url}/issues/{compiled.slug}",
    )


def _reader_list(session, subscriber_id: int) -> MailingList | None:  # type: ignore[no-untyped-def]
    """The list an issue would reach this reader through: their first confirmed one, else the
    first list there is (for an address that is no subscriber)."""
    query = select(MailingList).order_by(MailingList.id).limit(1)
    if subscriber_id:
        mine = session.scalar(query.join(Subscription, Subscription.list_id == MailingList.id)
                              .where(Subscription.subscriber_id == subscriber_id,
                                     Subscription.status == "confirmed"))
        if mine is not None:
            return mine
    return session.scalar(query)


def preview_message(config: Config, db: Database, links: LinkBuilder, compiled: CompiledEmail,
                    address: str) -> bytes:
    """The message ``address`` would receive, assembled and signed as a send does it: the
    subscriber's own links, the List-Id of their list, and the DKIM signatures when DKIM is
    configured."""
    try:
        normalised = normalise_address(address)
    except InvalidAddress as exc:
        raise RecipientError(f"{address!r} is not a valid email address: {exc}") from None
    with db.session() as session:
        subscriber = find_subscriber(session, normalised.email)
        subscriber_id, name = (subscriber.id, subscriber.name) if subscriber else (0, "")
        mailing_list = _reader_list(session, subscriber_id)
        list_id, slug = (mailing_list.id, mailing_list.slug) if mailing_list else (ALL_LISTS, "")
    values = personal_values(links, compiled, normalised.email, name, subscriber_id, list_id)
    template = MessageTemplate(
        compiled, mail_from=config.mail_from, reply_to=config.reply_to,
        list_id=list_id_header(slug, config.message_id_domain) if slug else "")
    recipient = Recipient(
        address=smtp_address(normalised.email),
        name=name,
        message_id=f"<nl.preview.{compiled.content_hash[:12]}@{config.message_id_domain}>",
        values=values,
        unsubscribe_mailto=links.unsubscribe_mailto(subscriber_id, normalised.key, list_id),
    )
    data = template.render(recipient)
    signer = DkimSigner.from_config(config)
    return signer.sign(data) if signer else data
