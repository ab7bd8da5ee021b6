"""RFC 3464 delivery status notifications: the machine-readable part of a bounce.

A DSN is ``multipart/report; report-type=delivery-status`` with a ``message/delivery-status``
part (``message/global-delivery-status`` in RFC 6533's UTF-8 form): one block of per-message
fields, then one block per recipient with Final-Recipient, Action, Status and usually a
Diagnostic-Code carrying the remote server's reply. The field syntax is also what ARF feedback
reports use, so the field reader here serves both. Real reports bend the rules: blocks run
together without blank lines, fields are folded mid-word, some gateways paste the fields into
the text part instead. All of that is read as well as it can be, and nothing here raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message

from service.bounces.parse_address import normalise_address
from service.bounces.parse_message import content_type, raw_text, walk
from service.bounces.reasons_codes import find_status

MAX_DIAGNOSTIC = 1000
REPORT_TYPES = frozenset(
    {"message/delivery-status", "message/global-delivery-status", "text/delivery-status"}
)
ACTIONS = frozenset({"failed", "delayed", "delivered", "relayed", "expanded"})
_RECIPIENT_FIELDS = frozenset({"final-recipient", "original-recipient", "action", "status"})
_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9-]{0,60})[ \t]*:[ \t]*(.*)$")
_TYPE_PREFIX = re.compile(r"^[A-Za-z][\w-]{0,20}\s*;\s*")
_REPLY_HEAD = re.compile(r"^([245]\d\d)[ -](?:([245]\.\d{1,3}\.\d{1,3})\s+)?")
_FIELDS_IN_TEXT = re.compile(r"^(?:final|original)-recipient[ \t]*:", re.I | re.M)


@dataclass
class DsnRecipient:
    """One recipient block; ``address`` prefers Original-Recipient (the address we sent to)."""

    address: str = ""
    action: str = ""
    status: str = ""
    diagnostic: str = ""


@dataclass
class DeliveryReport:
    fields: dict[str, str] = field(default_factory=dict)  # per-message fields, names lower case
    recipients: list[DsnRecipient] = field(default_factory=list)


def parse_fields(text: str) -> list[list[tuple[str, str]]]:
    """Blocks of (lower-case name, unfolded value) pairs; blank lines separate blocks."""
    blocks: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = []
            continue
        if line[0] in " \t" and current:
            name, value = current[-1]
            current[-1] = (name, f"{value} {line.strip()}")
            continue
        match = _FIELD.match(line)
        if match:
            current.append((match.group(1).lower(), match.group(2).strip()))
    if current:
        blocks.append(current)
    return blocks


def clean_diagnostic(text: str) -> str:
    """An SMTP reply as one readable line: the type prefix ('smtp;') and the repeated code of
    each continuation line ('550-5.1.1 ') dropped, whitespace collapsed, at most 1000 chars."""
    text = _TYPE_PREFIX.sub("", " ".join(text.split()))
    head = _REPLY_HEAD.match(text)
    if head:
        code, status = head.groups()
        again = rf"(?<=\s){code}[ -](?:{re.escape(status)}\s+)?" if status else rf"(?<=\s){code}-"
        rest = re.sub(again, "", text[head.end():])
        text = " ".join(f"{code} {status or ''} {rest}".split())
    if text.endswith(")") and text.count(")") > text.count("("):
        text = text[:-1].rstrip()
    return text[:MAX_DIAGNOSTIC]


def refine_status(status: str, diagnostic: str) -> str:
    """The status, or the diagnostic's more specific code when the status is a vague X.0.0."""
    found = find_status(diagnostic)
    if not status:
        return found
    if status.endswith(".0.0") and found and found[0] == status[0]:
        return found
    return status


def _recipient(fields: list[tuple[str, str]]) -> DsnRecipient:
    values: dict[str, str] = {}
    for name, value in fields:
        values.setdefault(name, value)
    original = normalise_address(values.get("original-recipient", ""))
    final = normalise_address(values.get("final-recipient", ""))
    action = (values.get("action", "").split() or [""])[0].lower().rstrip(";")
    diagnostic = clean_diagnostic(values.get("diagnostic-code", ""))
    status = find_status(values.get("status", ""))
    return DsnRecipient(
        address=original or final,
        action=action if action in ACTIONS else "",
        status=refine_status(status, diagnostic),
        diagnostic=diagnostic,
    )


def parse_report(text: str) -> DeliveryReport:
    """The per-message fields and the recipient blocks of a delivery-status text."""
    report = DeliveryReport()
    for block in parse_fields(text):
        names = {name for name, _ in block}
        if not names & _RECIPIENT_FIELDS:
            for name, value in block:
                report.fields.setdefault(name, value)
            continue
        # Some reports run several recipients into one block: each Final-Recipient starts one.
        group: list[tuple[str, str]] = []
        for name, value in block:
            starts = name == "final-recipient" and any(n == "final-recipient" for n, _ in group)
            if starts:
                report.recipients.append(_recipient(group))
                group = []
            group.append((name, value))
            if name in ("reporting-mta", "arrival-date", "x-original-message-id"):
                report.fields.setdefault(name, value)
        report.recipients.append(_recipient(group))
    return report


def find_delivery_report(message: Message, readable: str = "") -> DeliveryReport | None:
    """The bounce's delivery report: from its status part, else from fields pasted in its text."""
    found: DeliveryReport | None = None
    for part in walk(message):
        kind = content_type(part)
        if kind in REPORT_TYPES:
            report = parse_report(raw_text(part))
            if found is None:
                found = report
            else:
                found.recipients.extend(report.recipients)
    if found is None and readable:
        start = _FIELDS_IN_TEXT.search(readable)
        if start:
            # From the start of that block (Reporting-MTA may share it); above it is prose.
            block_start = readable.rfind("\n\n", 0, start.start())
            found = parse_report(readable[block_start + 1 if block_start >= 0 else 0:])
    if found is not None:
        found.recipients = [r for r in found.recipients if r.address or r.action or r.status]
    return found

