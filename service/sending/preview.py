"""One issue for one address: the ``newsletter render`` command and, later, test sends."""

from __future__ import annotations

from service.config import Config
from service.db import Database
from service.issues.compile import CompiledEmail
from service.issues.personalise import recipient_values
from service.mail.message import smtp_address
from service.sending.assembly import MessageTemplate, Recipient
from service.subscribers.addresses import InvalidAddress, normalise_address
from service.subscribers.links import ALL_LISTS, LinkBuilder
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


def preview_message(config: Config, db: Database, links: LinkBuilder, compiled: CompiledEmail,
                    address: str) -> bytes:
    """The message ``address`` would receive, assembled as a send assembles it; a
    subscriber's own links when there is one."""
    try:
        normalised = normalise_address(address)
    except InvalidAddress as exc:
        raise RecipientError(f"{address!r} is not a valid email address: {exc}") from None
    with db.session() as session:
        subscriber = find_subscriber(session, normalised.email)
        subscriber_id, name = (subscriber.id, subscriber.name) if subscriber else (0, "")
    values = personal_values(links, compiled, normalised.email, name, subscriber_id)
    template = MessageTemplate(compiled, mail_from=config.mail_from, reply_to=config.reply_to)
    recipient = Recipient(
        address=smtp_address(normalised.email),
        name=name,
        message_id=f"<nl.preview.{compiled.content_hash[:12]}@{config.message_id_domain}>",
        values=values,
        unsubscribe_mailto=links.unsubscribe_mailto(subscriber_id, normalised.key),
    )
    return template.render(recipient)
