"""Who failed, with what reply, and why: the per-recipient half of classification.

Recipients come from the most reliable source that names any: the delivery report's recipient
blocks; Exim's X-Failed-Recipients header; the addresses in the bounce's own words; the
returned original's one recipient; flufl.bounce; finally all the original's recipients. The
diagnostic of a report recipient is its Diagnostic-Code, or what the text says near its
address when the report gives none.

The reason is decided as sisimai taught: the server's words first, because they are more
specific than its codes (550 5.1.1 "blocked as spam" is spam, not an unknown user); then the
enhanced status code; then the bare reply code, read with the SMTP stage it answered; then the
wording anywhere near the address. A passing cause (a timeout, a system error) of a message the
queue gave up on becomes ``expired``.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message

from service.bounces.dsn import DeliveryReport, refine_status
from service.bounces.parse_address import addresses_in
from service.bounces.parse_flufl import flufl_addresses
from service.bounces.parse_message import headers
from service.bounces.parse_text import TextFailure, diagnostic_in, find_failures
from service.bounces.reasons import TRANSIENT_CAUSES, mentions, reason_from_text
from service.bounces.reasons_codes import (
    find_failure_status,
    find_reply,
    find_stage,
    reason_from_reply,
    reason_from_status,
)

DELIVERED_ACTIONS = frozenset({"delivered", "relayed", "expanded"})
# Our mail has one reader per message; a report naming more is a relay's, and past this many
# the rest adds nothing but time.
MAX_RECIPIENTS = 100


@dataclass(frozen=True)
class Candidate:
    address: str
    status: str
    diagnostic: str
    action: str
    context: str  # the bounce's words about this recipient, for the stage and a last look


def gather(
    message: Message, report: DeliveryReport | None, readable: str, exclude: set[str],
    fallback: list[str],
) -> list[Candidate]:
    """The failed (or reported) recipients, from the most reliable source that names any."""
    texts = {failure.address: failure for failure in find_failures(readable, exclude)}
    general: list[str] = []  # the whole text's diagnostic, worked out at most once

    def general_diagnostic() -> str:
        if not general:
            general.append(diagnostic_in(readable.splitlines()))
        return general[0]

    def from_text(
        address: str, action: str = "", status: str = "", diagnostic: str = ""
    ) -> Candidate:
        found: TextFailure | None = texts.get(address)
        context = found.context if found else ""
        if not diagnostic:
            diagnostic = found.diagnostic if found and found.diagnostic else general_diagnostic()
        status = refine_status(status, diagnostic) or find_failure_status(context)
        return Candidate(address, status, diagnostic, action, context)

    if report and report.recipients:
        return [
            from_text(r.address, r.action, r.status, r.diagnostic)
            for r in report.recipients[:MAX_RECIPIENTS]
        ]
    failed_header = addresses_in(" ".join(headers(message, "x-failed-recipients")))
    if failed_header:
        return [from_text(address) for address in failed_header[:MAX_RECIPIENTS]]
    if texts:
        return [from_text(address) for address in list(texts)[:MAX_RECIPIENTS]]
    # Our mail goes to one reader per message, so a returned original naming one recipient
    # names the failed one; flufl.bounce (slow, heuristic) is for the rest.
    if len(fallback) == 1:
        return [from_text(fallback[0])]
    addresses = [a for a in flufl_addresses(message) if a not in exclude] or fallback
    return [from_text(address) for address in addresses[:MAX_RECIPIENTS]]


def unnamed(readable: str) -> Candidate:
    """A bounce that names no recipient: its reply and codes are read from the whole text."""
    diagnostic = diagnostic_in(readable.splitlines())
    return Candidate("", refine_status("", diagnostic), diagnostic, "", readable)


def decide_reason(candidate: Candidate, readable: str) -> str:
    """The reason for one recipient: wording, then status code, then reply code and stage."""
    if candidate.action in DELIVERED_ACTIONS:
        return "delivered"
    if candidate.action == "delayed":
        return "delayed"
    reason = reason_from_text(candidate.diagnostic) or reason_from_status(candidate.status)
    if not reason:
        reply = find_reply(candidate.diagnostic) or find_reply(candidate.context)
        stage = find_stage(" ".join(f"{candidate.diagnostic} {candidate.context}".split()))
        reason = reason_from_reply(reply, stage or find_stage(" ".join(readable.split())))
    if not reason:
        reason = reason_from_text(candidate.context) or reason_from_text(readable)
    if reason in TRANSIENT_CAUSES or not reason:
        context = f"{candidate.context}\n{readable}"
        if candidate.status[2:] == "4.7" or mentions(context, "expired"):
            return "expired"
    return reason or "undefined"


def is_temporary(candidate: Candidate) -> bool:
    """True when the failure's codes are 4xx: the server itself said to try again."""
    if candidate.status:
        return candidate.status.startswith("4")
    return find_reply(candidate.diagnostic).startswith("4")
