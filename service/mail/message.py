"""Transactional messages (confirmations, welcomes) with the standard library, and the header
injection checks every message uses.

multipart/alternative with UTF-8 text and HTML parts in base64, an RFC 2047 subject, Date and
Message-ID. Issue emails, sent by the thousand, are assembled by service.sending.assembly.
"""

from __future__ import annotations

import email.policy
import email.utils
import re
import uuid
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from functools import lru_cache

import idna

from service.issues.compile import CompiledEmail

# SMTP wants CRLF. Headers fold only past RFC 5322's hard limit of 998 octets: folding at 78
# turns a long unbroken value (a URL, a token) into encoded words that no client can use.
SMTP_POLICY = email.policy.SMTP.clone(max_line_length=998)
# A recipient with a non-ASCII local part needs RFC 6532 UTF-8 headers (and SMTPUTF8).
SMTPUTF8_POLICY = SMTP_POLICY.clone(utf8=True)
# CR and LF would start a new header; U+2028/2029 and NEL are line breaks to some parsers.
HEADER_BREAKS = re.compile(r"[\r\n\u0085\u2028\u2029\x00]")


@lru_cache(maxsize=65536)
def _ascii_domain(domain: str) -> str:
    # IDNA 2008 with UTS 46 mapping, as email-validator does: Python's own 'idna' codec is
    # IDNA 2003, which maps faß.de to fass.de, another owner's domain.
    return idna.encode(domain, uts46=True).decode("ascii")


def smtp_address(email: str) -> str:
    """The address as SMTP carries it: an internationalised domain in its IDNA 2008 form."""
    local, _, domain = email.rpartition("@")
    if domain.isascii():
        return email
    try:
        return f"{local}@{_ascii_domain(domain)}"
    except idna.IDNAError:
        return email


class HeaderInjectionError(ValueError):
    """A value meant for a header contains a line break."""


def safe_header_value(value: str, field: str) -> str:
    if HEADER_BREAKS.search(value):
        raise HeaderInjectionError(f"{field} contains a line break")
    return value


def parse_mailbox(value: str, field: str) -> Address:
    """'Name <user@host>' or 'user@host' → Address, refusing anything with line breaks."""
    safe_header_value(value, field)
    name, addr = email.utils.parseaddr(value)
    if "@" not in addr:
        raise ValueError(f"{field} is not an email address: {value!r}")
    user, _, domain = addr.rpartition("@")
    return Address(display_name=name, username=user, domain=domain)


@dataclass(frozen=True)
class Envelope:
    """Who the message is from and to."""

    mail_from: str
    to: str
    to_name: str = ""
    reply_to: str = ""
    message_id_domain: str = "localhost"


def build_message(compiled: CompiledEmail, envelope: Envelope, html: str, text: str) -> EmailMessage:
    """The message for one recipient, from the already-personalised html and text."""
    recipient = parse_mailbox(envelope.to, "To")
    message = EmailMessage(policy=SMTP_POLICY if recipient.username.isascii() else SMTPUTF8_POLICY)
    message["From"] = parse_mailbox(envelope.mail_from, "From")
    if envelope.to_name:
        recipient = Address(
            display_name=safe_header_value(envelope.to_name, "recipient name"),
            username=recipient.username,
            domain=recipient.domain,
        )
    message["To"] = recipient
    if envelope.reply_to:
        message["Reply-To"] = parse_mailbox(envelope.reply_to, "Reply-To")
    message["Subject"] = safe_header_value(compiled.subject, "Subject")
    message["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = f"<{uuid.uuid4().hex}@{envelope.message_id_domain}>"
    message.set_content(text, subtype="plain", charset="utf-8", cte="base64")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="base64")
    return message
