"""The returned original inside a bounce or complaint, and the VERP address that names it.

The original tells which message bounced (its Message-ID, its List-Id) and, through the VERP
envelope sender ``bounces+<token>@<domain>``, which delivery. It comes as a ``message/rfc822``
part, as ``text/rfc822-headers``, or pasted into the text after a line such as "--- Below this
line is a copy of the message." The token is only found here, never checked: the VERP module
verifies its signature.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32

from service.bounces.parse_address import addresses_in
from service.bounces.parse_message import (
    ATTACHED_MESSAGE_TYPES,
    content_type,
    header,
    headers,
    raw_text,
    walk,
)

HEADER_TYPES = frozenset({"text/rfc822-headers", "message/rfc822-headers"})
# A VERP local part; '=' before it is allowed so that one inside an SRS rewrite is found too.
VERP_PATTERN = re.compile(r"(?<![\w.+-])(bounces\+[A-Za-z0-9._=-]+)@[A-Za-z0-9.-]+", re.IGNORECASE)
# Headers of the bounce itself that carry its envelope recipient, most direct first.
ENVELOPE_HEADERS = (
    "x-original-to", "delivered-to", "envelope-to", "x-envelope-to", "x-rcpt-to", "to",
)
_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
_RECEIVED_FOR = re.compile(r"\bfor\s+<?([^\s<>;]+@[^\s<>;]+)>?", re.IGNORECASE)


@dataclass
class Original:
    """What is known of the returned original; empty fields when it was not returned."""

    message_id: str = ""
    list_id: str = ""
    return_path: str = ""
    senders: set[str] = field(default_factory=set)
    recipients: list[str] = field(default_factory=list)


def message_id_of(value: str) -> str:
    """The id inside a Message-ID or In-Reply-To value, without angle brackets."""
    match = _MESSAGE_ID.search(value)
    if match:
        return match.group(1)
    words = value.strip().strip("<>").split()
    return words[0] if words else ""


def list_id_of(value: str) -> str:
    """The list identifier of a List-Id value: 'Name <id.example.org>' gives 'id.example.org'."""
    match = _MESSAGE_ID.search(value)
    return match.group(1) if match else value.strip()


def _from_headers(message: Message) -> Original:
    original = Original(
        message_id=message_id_of(header(message, "message-id")),
        list_id=list_id_of(header(message, "list-id")),
        return_path=header(message, "return-path"),
    )
    for name in ("from", "sender", "return-path", "reply-to"):
        for value in headers(message, name):
            original.senders.update(addresses_in(value))
    for name in ("x-hmxmroriginalrecipient", "to", "cc"):
        for value in headers(message, name):
            for address in addresses_in(value):
                if address not in original.recipients:
                    original.recipients.append(address)
    return original


def find_original(message: Message, pasted: str = "") -> Original:
    """The original from an attached message or header part, else from text pasted in the body."""
    for part in walk(message):
        if part is message:
            continue
        kind = content_type(part)
        if kind in ATTACHED_MESSAGE_TYPES:
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message) and inner.keys():
                return _from_headers(inner)
        elif kind in HEADER_TYPES:
            parsed = HeaderParser(policy=compat32).parsestr(raw_text(part).lstrip())
            if parsed.keys():
                return _from_headers(parsed)
    if pasted.strip():
        parsed = HeaderParser(policy=compat32).parsestr(pasted.lstrip())
        if parsed.keys():
            return _from_headers(parsed)
    return Original()


def find_message_id(message: Message, original: Original, report_fields: dict[str, str]) -> str:
    """The original's Message-ID: from the original itself, the report, or the bounce's
    In-Reply-To and References (auto-replies and some bounces thread onto the original)."""
    if original.message_id:
        return original.message_id
    for value in (report_fields.get("x-original-message-id", ""), header(message, "in-reply-to")):
        if message_id_of(value):
            return message_id_of(value)
    references = _MESSAGE_ID.findall(header(message, "references"))
    return references[-1] if references else ""


def find_verp(message: Message, original: Original, extra: tuple[str, ...] = ()) -> str:
    """The local part 'bounces+<token>' of a VERP address, unverified; '' if there is none.

    The bounce's own envelope headers come first (they name the address this copy was
    delivered to), then the original's Return-Path, then report fields such as ARF's
    Original-Mail-From, then the "for <...>" of the bounce's Received lines.
    """
    candidates = [value for name in ENVELOPE_HEADERS for value in headers(message, name)]
    candidates.append(original.return_path)
    candidates.extend(extra)
    for value in headers(message, "received"):
        candidates.extend(_RECEIVED_FOR.findall(value))
    for value in candidates:
        match = VERP_PATTERN.search(value) if value else None
        if match:
            return match.group(1)
    return ""
