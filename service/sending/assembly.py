"""Message bytes for one recipient from parts prepared once per send.

Everything that is the same for every recipient (the encoded From and Subject, the MIME
skeleton) is built when the send starts. Per recipient: the compiled email's slots are filled
by substitution, only the bytes around each slot are base64-encoded (the literal pieces were encoded
once, see base64_template), and a few header lines are formatted.
The result is already in SMTP's wire form: CRLF line ends, no line over 78 octets in the
bodies, and no line that starts with a dot (headers start with a name or a space, base64 and
MIME boundaries never with '.'), so it needs no dot-stuffing on the way out.
"""

from __future__ import annotations

import email.utils
import hashlib
from dataclasses import dataclass
from email.header import Header

from service.issues.compile import CompiledEmail
from service.issues.personalise import SlotTemplate, html_values
from service.mail.message import safe_header_value
from service.sending.base64_template import Base64Template

CRLF = "\r\n"


def _crlf(template: SlotTemplate) -> SlotTemplate:
    return SlotTemplate(tuple(piece.replace("\n", CRLF) for piece in template.pieces), template.slots)


def encode_header_text(text: str) -> str:
    """RFC 2047 when needed, folded with CRLF + space."""
    if text.isascii() and len(text) < 900:
        return text
    return Header(text, "utf-8", maxlinelen=76).encode(linesep=CRLF)


def list_id_header(slug: str, domain: str) -> str:
    """RFC 2919 List-Id: stable for a list whatever the issue, so readers' filters keep working."""
    return f"<{slug}.{domain}>"


def format_mailbox(name: str, address: str) -> str:
    safe_header_value(name, "display name")
    safe_header_value(address, "address")
    if not name:
        return address
    if not address.isascii():
        # An SMTPUTF8 message (RFC 6532): its headers are UTF-8, the name goes as it is.
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{quoted}" <{address}>'
    return email.utils.formataddr((name, address), charset="utf-8")


@dataclass(frozen=True)
class Recipient:
    address: str  # as SMTP carries it
    name: str
    message_id: str
    values: dict[str, str]  # the compiled email's slot values
    unsubscribe_mailto: str = ""


class MessageTemplate:
    """A send's message, prepared once; :meth:`render` makes one recipient's bytes."""

    def __init__(self, compiled: CompiledEmail, *, mail_from: str, reply_to: str = "",
                 list_id: str = "", date: str | None = None, subject_prefix: str = "") -> None:
        self.compiled = compiled
        # MIME text is canonically CRLF: convert the pieces once, not every recipient's copy.
        self.html_template = _crlf(compiled.html_template)
        self.text_template = _crlf(compiled.text_template)
        self.html_body = Base64Template(self.html_template)
        self.text_body = Base64Template(self.text_template)
        self.boundary = "=_nl_" + hashlib.sha256(compiled.content_hash.encode()).hexdigest()[:24]
        name, address = email.utils.parseaddr(safe_header_value(mail_from, "From"))
        lines = [f"From: {format_mailbox(name, address)}"]
        if reply_to:
            reply_name, reply_address = email.utils.parseaddr(safe_header_value(reply_to, "Reply-To"))
            lines.append(f"Reply-To: {format_mailbox(reply_name, reply_address)}")
        subject = safe_header_value(subject_prefix + compiled.subject, "Subject")
        lines.append(f"Subject: {encode_header_text(subject)}")
        if list_id:
            lines.append(f"List-Id: {safe_header_value(list_id, 'List-Id')}")
        self.common = CRLF.join(lines) + CRLF
        self.date = date
        self.mime_head = (
            f"MIME-Version: 1.0{CRLF}"
            f'Content-Type: multipart/alternative; boundary="{self.boundary}"{CRLF}{CRLF}'
        ).encode()
        part = "--{b}\r\nContent-Type: text/{kind}; charset=\"utf-8\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        self.text_head = part.format(b=self.boundary, kind="plain").encode()
        self.html_head = part.format(b=self.boundary, kind="html").encode()
        self.tail = f"--{self.boundary}--{CRLF}".encode()

    def render(self, recipient: Recipient, date: str | None = None) -> bytes:
        """The complete message for one recipient, CRLF-terminated, ready for DATA."""
        values = recipient.values
        unsubscribe = values.get("unsubscribe_url", "")
        headers = [
            f"To: {format_mailbox(recipient.name, recipient.address)}",
            f"Date: {date or self.date or email.utils.formatdate(usegmt=True)}",
            f"Message-ID: {safe_header_value(recipient.message_id, 'Message-ID')}",
        ]
        if unsubscribe:
            targets = [unsubscribe] + ([recipient.unsubscribe_mailto] if recipient.unsubscribe_mailto else [])
            joined = ", ".join(f"<{safe_header_value(t, 'List-Unsubscribe')}>" for t in targets)
            headers.append(f"List-Unsubscribe: {joined}")
            headers.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
        head = (self.common + CRLF.join(headers) + CRLF).encode("utf-8")
        return b"".join(
            (
                head,
                self.mime_head,
                self.text_head,
                self.text_body.render(values),
                self.html_head,
                self.html_body.render(html_values(values)),
                self.tail,
            )
        )
