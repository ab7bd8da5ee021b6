"""Classify one returned message: raw bytes in, a :class:`Classification` out, never an exception.

The order of questions:

1. Can it be read at all? Empty input, or bytes with no header fields, is an ``error``
   (kind ``soft``, reason ``undefined``), and so is any unexpected failure inside.
2. Is it a complaint (an ARF feedback report)? Kind ``complaint``, reason ``feedback``.
3. Is it an auto-reply, and not a bounce? Kind ``ignore``, reason ``vacation``.
4. Does anything say it is a bounce (a delivery report, a mail-system sender, a bounce subject,
   X-Failed-Recipients, a bounce's opening words)? If not, it is some other mail: kind
   ``ignore``, reason ``undefined``.
5. A report whose every recipient was delivered, relayed or expanded: ``ignore``/``delivered``.
   A warning that delivery is still being retried (Action: delayed, or a delay notice with
   no failed recipient): ``ignore``/``delayed``, since the real outcome is reported later.
6. Otherwise it is a failure. The first failed recipient's reason decides: ``hard`` for
   userunknown, hostunknown, hasmoved and notaccept unless its code is temporary (4xx), else
   ``soft``; a bounce whose reason cannot be told is ``soft``/``undefined``.

``message_id``, ``list_id`` and ``verp_local`` are filled whenever they can be found, whatever
the kind, so that even an auto-reply can be tied to the message it answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.bounces.arf import find_feedback_report, is_complaint
from service.bounces.autoreply import is_autoreply
from service.bounces.classify_recipients import (
    DELIVERED_ACTIONS,
    Candidate,
    decide_reason,
    gather,
    is_temporary,
    unnamed,
)
from service.bounces.classify_signals import looks_like_bounce, looks_like_delay, says_bounce
from service.bounces.dsn import MAX_DIAGNOSTIC, find_delivery_report
from service.bounces.parse_address import addresses_in
from service.bounces.parse_message import header, headers, parse_bytes
from service.bounces.parse_original import find_message_id, find_original, find_verp
from service.bounces.parse_text import readable_text, split_original
from service.bounces.reasons import kind_for

__all__ = ["Classification", "FailedRecipient", "classify"]


@dataclass(frozen=True)
class FailedRecipient:
    address: str  # lower-cased addr-spec, '' if unknown
    status: str  # enhanced status like '5.1.1', '' if unknown
    diagnostic: str  # the diagnostic / SMTP reply text, trimmed, <= 1000 chars
    action: str  # DSN Action: failed / delayed / delivered / relayed / expanded, '' if none


@dataclass(frozen=True)
class Classification:
    kind: str  # 'hard' | 'soft' | 'complaint' | 'ignore'
    reason: str  # from the vocabulary in service.bounces.reasons
    recipients: tuple[FailedRecipient, ...]
    status: str  # the main status (first failed recipient's), '' if none
    diagnostic: str  # main diagnostic
    message_id: str  # Message-ID of the original message, without angle brackets, '' if none
    list_id: str  # List-Id of the original message (the id inside <...>), '' if none
    verp_local: str  # 'bounces+<token>' as found (unverified), '' if none
    feedback_type: str  # ARF Feedback-Type for complaints ('abuse', ...), '' otherwise
    error: str = ""  # set when the input could not be read; then kind='soft', reason='undefined'


def classify(raw: bytes) -> Classification:
    """Classify one raw message. Any input gives an answer; failures are reported in ``error``."""
    try:
        return _classify(bytes(raw))
    except Exception as exc:  # noqa: BLE001 - the contract is an answer for every input
        return unreadable(f"{type(exc).__name__}: {exc}")


def unreadable(error: str) -> Classification:
    """The answer for input that could not be read as mail."""
    return Classification("soft", "undefined", (), "", "", "", "", "", "", error=error[:500])


def _recipient(candidate: Candidate) -> FailedRecipient:
    return FailedRecipient(
        candidate.address, candidate.status, candidate.diagnostic[:MAX_DIAGNOSTIC], candidate.action
    )


def _answer(
    kind: str, reason: str, recipients: tuple[FailedRecipient, ...], main: Candidate | None,
    found: dict[str, str], feedback_type: str = "",
) -> Classification:
    status, diagnostic = (main.status, main.diagnostic[:MAX_DIAGNOSTIC]) if main else ("", "")
    return Classification(kind, reason, recipients, status, diagnostic, **found,
                          feedback_type=feedback_type)


def _classify(raw: bytes) -> Classification:
    if not raw.strip():
        return unreadable("empty message")
    message = parse_bytes(raw)
    if not message.keys():
        return unreadable("no header fields: not a mail message")
    subject = header(message, "subject")
    readable, pasted = split_original(readable_text(message))
    original = find_original(message, pasted)
    report = find_delivery_report(message, readable)
    feedback = find_feedback_report(message)
    extra = (feedback.mail_from,) if feedback else ()
    if report:
        extra += (report.fields.get("x-postfix-sender", ""),)
    found = {
        "message_id": find_message_id(message, original, report.fields if report else {}),
        "list_id": original.list_id,
        "verp_local": find_verp(message, original, extra),
    }

    if feedback:
        addresses = feedback.recipients or tuple(original.recipients[:1])
        recipients = tuple(FailedRecipient(address, "", "", "") for address in addresses)
        kind = "complaint" if is_complaint(feedback) else "ignore"
        return _answer(kind, "feedback", recipients, None, found, feedback.feedback_type)
    has_report = bool(report and report.recipients)
    if not has_report and is_autoreply(message, subject) and not says_bounce(message, subject):
        responder = addresses_in(header(message, "from"))[:1]
        recipients = tuple(FailedRecipient(address, "", "", "") for address in responder)
        return _answer("ignore", "vacation", recipients, None, found)
    if not has_report and not looks_like_bounce(message, subject, readable):
        return _answer("ignore", "undefined", (), None, found)

    # Addresses that are never the failed reader: ours, the original sender's, the bounce's
    # own, and message ids (which look like addresses).
    exclude = set(original.senders) | {found["message_id"].lower()}
    for name in ("from", "to", "delivered-to", "x-original-to", "envelope-to", "message-id"):
        for value in headers(message, name):
            exclude.update(addresses_in(value))
    candidates = gather(message, report, readable, exclude, original.recipients)
    recipients = tuple(_recipient(candidate) for candidate in candidates)
    if candidates and all(c.action in DELIVERED_ACTIONS for c in candidates):
        return _answer("ignore", "delivered", recipients, candidates[0], found)
    failed = [c for c in candidates if c.action in ("failed", "")]
    delayed = [c for c in candidates if c.action == "delayed"]
    explicit_failure = any(c.action == "failed" for c in candidates)
    if (delayed and not failed) or (not explicit_failure and looks_like_delay(subject, readable)):
        main = (delayed + failed)[0] if delayed or failed else None
        return _answer("ignore", "delayed", recipients, main, found)
    main = failed[0] if failed else unnamed(readable)
    reason = decide_reason(main, readable)
    return _answer(kind_for(reason, is_temporary(main)), reason, recipients, main, found)
