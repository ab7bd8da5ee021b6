"""Complaints: ARF feedback reports (RFC 5965), as mailbox providers send them.

A report is ``multipart/report; report-type=feedback-report`` with a human-readable part, a
``message/feedback-report`` part of fields (Feedback-Type, User-Agent, Original-Rcpt-To,
Original-Mail-From, ...) and the original message or its headers. Microsoft's JMRP follows the
same layout and names the complaining reader in the original's X-HmXmrOriginalRecipient
header; Yahoo's carries Original-Rcpt-To. Some senders of reports paste the fields into a text
part; those are read too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

from service.bounces.dsn import parse_fields
from service.bounces.parse_address import addresses_in
from service.bounces.parse_message import content_param, content_type, part_text, raw_text, walk

FEEDBACK_TYPES = frozenset({"message/feedback-report"})
# Feedback types that are a reader's complaint. 'auth-failure' (RFC 6591) reports a failed
# DKIM/SPF check and 'not-spam' withdraws a complaint: neither is a complaint about us.
COMPLAINT_TYPES = frozenset({"abuse", "fraud", "virus", "other", "opt-out", "unsubscribe"})
_PASTED_REPORT = re.compile(r"^feedback-type[ \t]*:", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class FeedbackReport:
    feedback_type: str
    recipients: tuple[str, ...]  # from Original-Rcpt-To; the caller falls back to the original
    mail_from: str  # Original-Mail-From as written, which carries our VERP address


def _report_text(message: Message) -> str:
    for part in walk(message):
        if content_type(part) in FEEDBACK_TYPES:
            return raw_text(part)
    if content_type(message) == "multipart/report" and (
        content_param(message, "report-type").lower() == "feedback-report"
    ):
        for part in walk(message):
            if content_type(part) == "text/plain":
                text = part_text(part)
                if match := _PASTED_REPORT.search(text):
                    return text[match.start():]
        return " "  # declared a feedback report, though its fields are missing
    return ""


def find_feedback_report(message: Message) -> FeedbackReport | None:
    """The feedback report in ``message``, or None when it is not a complaint report."""
    text = _report_text(message)
    if not text:
        return None
    values: dict[str, list[str]] = {}
    for block in parse_fields(text):
        for name, value in block:
            values.setdefault(name, []).append(value)
    feedback_type = (values.get("feedback-type", ["abuse"])[0].split() or ["abuse"])[0].lower()
    recipients: list[str] = []
    for value in values.get("original-rcpt-to", []) + values.get("removal-recipient", []):
        recipients.extend(a for a in addresses_in(value) if a not in recipients)
    # Kept as written: a VERP token is case-sensitive.
    mail_from = values.get("original-mail-from", [""])[0]
    return FeedbackReport(feedback_type, tuple(recipients), mail_from)


def is_complaint(report: FeedbackReport) -> bool:
    return report.feedback_type in COMPLAINT_TYPES
