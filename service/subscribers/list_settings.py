"""A list's settings as an admin edits them: name, language, sender, reply-to and the
schedule a send starts from. Every value is checked here, before it can reach a header."""

from __future__ import annotations

import email.utils
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from service.mail.message import HEADER_BREAKS
from service.subscribers.addresses import InvalidAddress, normalise_address
from service.subscribers.lists import (
    CONTROL,
    LANGUAGES,
    MAX_LIST_NAME,
    ListError,
    create_list,
)
from service.subscribers.models import MailingList
from service.zones import known_zone

SEND_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MAX_MAILBOX = 400


@dataclass(frozen=True)
class ListSettings:
    name: str
    language: str = "zh-CN"
    sender: str = ""
    reply_to: str = ""
    timezone: str = ""
    send_weekday: int | None = None
    send_time: str = ""
    double_opt_in: bool = True
    description: str = ""


def check_mailbox(value: str, what: str) -> str:
    """'Name <user@host>' or 'user@host', or "" for the default. No line breaks anywhere:
    the value becomes a From or Reply-To header."""
    value = value.strip()
    if not value:
        return ""
    if HEADER_BREAKS.search(value) or CONTROL.search(value):
        raise ListError(f"the {what} cannot contain line breaks or control characters")
    if len(value) > MAX_MAILBOX:
        raise ListError(f"the {what} has at most {MAX_MAILBOX} characters")
    name, address = email.utils.parseaddr(value)
    if not address or (not name and address != value.strip("<>")):
        raise ListError(f"the {what} {value!r} is not an address like 'Name <news@example.org>'")
    try:
        normalised = normalise_address(address)
    except InvalidAddress as exc:
        raise ListError(f"the {what} {address!r} is not a valid address: {exc}") from None
    if not name:
        return normalised.email
    # Kept as typed, like NEWSLETTER_MAIL_FROM: the message assembly encodes it for the header.
    mailbox = f"{name} <{normalised.email}>"
    if email.utils.parseaddr(mailbox) != (name, normalised.email):
        raise ListError(f"write the {what}'s name without quotes, commas or angle brackets")
    return mailbox


def check_settings(settings: ListSettings) -> ListSettings:
    """The settings as they will be stored; raises ListError saying what is wrong."""
    if HEADER_BREAKS.search(settings.name) or CONTROL.search(settings.name):
        raise ListError("the name cannot contain line breaks or control characters")
    name = " ".join(settings.name.split())
    if not name:
        raise ListError("a list needs a name")
    if len(name) > MAX_LIST_NAME:
        raise ListError(f"a list's name has at most {MAX_LIST_NAME} characters")
    if settings.language not in LANGUAGES:
        raise ListError(f"language must be one of {', '.join(LANGUAGES)}")
    if settings.timezone and known_zone(settings.timezone) is None:
        raise ListError(f"unknown time zone {settings.timezone!r} (e.g. Asia/Shanghai)")
    if settings.send_time and not SEND_TIME.match(settings.send_time):
        raise ListError("the send time reads like 09:30 (24-hour clock)")
    if settings.send_weekday is not None and settings.send_weekday not in range(7):
        raise ListError("the send day is a weekday, Monday to Sunday")
    return ListSettings(
        name=name,
        language=settings.language,
        sender=check_mailbox(settings.sender, "sender"),
        reply_to=check_mailbox(settings.reply_to, "reply-to address"),
        timezone=settings.timezone,
        send_weekday=settings.send_weekday,
        send_time=settings.send_time,
        double_opt_in=settings.double_opt_in,
        description=CONTROL.sub(" ", settings.description).strip(),
    )


def apply_settings(mailing_list: MailingList, settings: ListSettings) -> None:
    for name in ("name", "language", "sender", "reply_to", "timezone", "send_weekday",
                 "send_time", "double_opt_in", "description"):
        setattr(mailing_list, name, getattr(settings, name))


def create_list_with(session: Session, slug: str, settings: ListSettings) -> MailingList:
    """A new list with every setting; ListError for a bad value or a slug taken already."""
    checked = check_settings(settings)
    mailing_list = create_list(session, slug, checked.name, language=checked.language,
                               double_opt_in=checked.double_opt_in, description=checked.description)
    apply_settings(mailing_list, checked)
    return mailing_list


def update_list(mailing_list: MailingList, settings: ListSettings) -> None:
    apply_settings(mailing_list, check_settings(settings))


def sender_for(lists: Sequence[MailingList], mail_from: str, reply_to: str) -> tuple[str, str]:
    """The From and Reply-To of a send to ``lists``: the lists' own when they all name the
    same one, else the defaults given (a send is one message, so it has one sender)."""
    senders = {m.sender for m in lists}
    replies = {m.reply_to for m in lists}
    if len(senders) == 1 and (only := senders.pop()):
        mail_from = only
    if len(replies) == 1 and (only := replies.pop()):
        reply_to = only
    return mail_from, reply_to
