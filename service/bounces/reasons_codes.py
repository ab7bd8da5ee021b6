"""Reasons from SMTP codes: enhanced status codes (RFC 3463 and its registry) and bare replies.

Codes come second, after the wording (see ``reasons.py``): a code says which family a failure
belongs to, the text says what actually happened, and servers pick codes loosely. A code
decides only when the text names no reason. The tables map subject.detail (the class digit,
2, 4 or 5, is read separately: it says temporary or permanent, not why).
"""

from __future__ import annotations

import re

# subject.detail -> reason. Codes missing here (X.0.0, X.1.0, ...) say nothing specific.
STATUS_REASONS: dict[str, str] = {
    "1.1": "userunknown",      # bad destination mailbox address
    "1.2": "hostunknown",      # bad destination system address
    "1.3": "userunknown",      # bad destination mailbox address syntax
    "1.6": "hasmoved",         # destination mailbox has moved, no forwarding address
    "1.7": "rejected",         # bad sender's mailbox address syntax
    "1.8": "rejected",         # bad sender's system address
    "1.10": "notaccept",       # recipient address has null MX (RFC 7505)
    "2.1": "suspend",          # mailbox disabled, not accepting messages
    "2.2": "mailboxfull",      # mailbox full
    "2.3": "mesgtoobig",       # message length exceeds administrative limit
    "2.4": "systemerror",      # mailing list expansion problem
    "3.0": "systemerror",
    "3.1": "systemfull",       # mail system full
    "3.2": "systemerror",      # system not accepting network messages
    "3.3": "systemerror",      # system not capable of selected features
    "3.4": "mesgtoobig",       # message too big for system
    "3.5": "systemerror",      # system incorrectly configured
    "4.0": "networkerror",
    "4.1": "networkerror",     # no answer from host
    "4.2": "networkerror",     # bad connection
    "4.3": "systemerror",      # directory server failure
    "4.4": "hostunknown",      # unable to route (Postfix: host or domain name not found)
    "4.5": "systemerror",      # mail system congestion
    "4.6": "networkerror",     # routing loop detected
    "4.7": "expired",          # delivery time expired
    "5.0": "syntaxerror",
    "5.1": "syntaxerror",      # invalid command
    "5.2": "syntaxerror",      # syntax error
    "5.3": "syntaxerror",      # too many recipients
    "5.4": "syntaxerror",      # invalid command arguments
    "5.5": "syntaxerror",      # wrong protocol version
    "5.6": "syntaxerror",
    "6.0": "contenterror",
    "6.1": "contenterror",     # media not supported
    "6.2": "contenterror",     # conversion required and prohibited
    "6.3": "contenterror",     # conversion required but not supported
    "6.4": "contenterror",     # conversion with loss performed
    "6.5": "contenterror",     # conversion failed
    "6.6": "contenterror",     # message content not available
    "6.7": "contenterror",     # non-ASCII addresses not permitted
    "6.8": "contenterror",
    "6.9": "contenterror",
    "6.10": "contenterror",
    "7.0": "securityerror",
    "7.1": "blocked",          # delivery not authorized, message refused
    "7.2": "securityerror",    # mailing list expansion prohibited
    "7.3": "securityerror",
    "7.4": "securityerror",
    "7.5": "securityerror",
    "7.6": "securityerror",
    "7.7": "securityerror",
    "7.8": "securityerror",    # authentication credentials invalid
    "7.9": "securityerror",
    "7.10": "securityerror",   # encryption needed
    "7.11": "securityerror",
    "7.12": "securityerror",
    "7.13": "suspend",         # user account disabled
    "7.14": "securityerror",
    "7.15": "securityerror",
    "7.16": "mesgtoobig",      # message too big for specified priority
    "7.17": "hasmoved",        # mailbox owner has changed (RFC 7293)
    "7.18": "hasmoved",        # domain owner has changed (RFC 7293)
    "7.20": "authfailure",     # no passing DKIM signature found
    "7.21": "authfailure",
    "7.22": "authfailure",
    "7.23": "authfailure",     # SPF validation failed
    "7.24": "authfailure",     # SPF validation error
    "7.25": "blocked",         # reverse DNS validation failed
    "7.26": "authfailure",     # multiple authentication checks failed (DMARC)
    "7.27": "authfailure",     # sender address has null MX
    "7.28": "ratelimited",     # mail flood detected
    "7.29": "authfailure",     # ARC validation failure
    "7.30": "securityerror",   # REQUIRETLS support required
}

# Bare reply code -> reason, when no enhanced status is known. 550 and 552 depend on the stage.
REPLY_REASONS: dict[str, str] = {
    "421": "systemerror",
    "451": "systemerror",
    "452": "systemfull",
    "454": "securityerror",
    "500": "syntaxerror",
    "501": "syntaxerror",
    "502": "syntaxerror",
    "503": "syntaxerror",
    "504": "syntaxerror",
    "521": "notaccept",        # host does not accept mail (RFC 7504)
    "530": "securityerror",
    "534": "securityerror",
    "535": "securityerror",
    "555": "syntaxerror",
    "556": "notaccept",        # domain does not accept mail (RFC 7504)
}

# An enhanced status code, not part of a longer dotted number such as an IP address.
STATUS_PATTERN = re.compile(r"(?<![\w.])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")
# A reply code where SMTP replies start: line start or after a colon, quote, paren or '#'.
# (Full-width colons and commas count: Chinese and Japanese bounces put them before the code.)
REPLY_PATTERN = re.compile(r"(?:^|(?<=[\s:;'\"(#<：，]))([45]\d\d)(?=[ \-:]|$)", re.M)
# The command a reply answered, as Postfix ("in reply to RCPT TO command"), Exim ("after RCPT
# TO"), GMX ("for RCPT TO command") and transcripts (">>> DATA", "--> RCPT To") put it.
_STAGES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (stage, re.compile(rf"(?:after|in reply to|for) (?:the )?{words}|(?:>>>|-->) ?{words}", re.I))
    for stage, words in (
        ("rcpt", r"rcpt to"),
        ("data", r"(?:end of )?data\b"),
        ("mail", r"mail from"),
    )
)


def find_status(text: str) -> str:
    """The first enhanced status code in ``text``, e.g. '5.1.1'; '' if none."""
    match = STATUS_PATTERN.search(text) if text else None
    return ".".join(match.groups()) if match else ""


def find_reply(text: str) -> str:
    """The first SMTP reply code (4xx or 5xx) in ``text``; '' if none."""
    match = REPLY_PATTERN.search(text) if text else None
    return match.group(1) if match else ""


def find_stage(text: str) -> str:
    """The SMTP command a failure answered (rcpt, data or mail), as the text tells; '' if not."""
    if not text:
        return ""
    for stage, pattern in _STAGES:
        if pattern.search(text):
            return stage
    return ""


def reason_from_status(status: str) -> str:
    """The reason an enhanced status code names on its own; '' for vague or unknown codes."""
    _, _, rest = status.partition(".")
    return STATUS_REASONS.get(rest, "")


def reason_from_reply(reply: str, stage: str = "") -> str:
    """The reason a bare reply code names.

    RFC 5321's 550 is "mailbox unavailable" only in answer to RCPT TO; after DATA it is a
    refusal of the content or of us, which says nothing about the address. 552 is "exceeded
    storage allocation" at RCPT and, by RFC 1870, a size refusal after DATA.
    """
    if reply == "550":
        return "userunknown" if stage == "rcpt" else ""
    if reply == "552":
        return "mesgtoobig" if stage == "data" else "mailboxfull"
    return REPLY_REASONS.get(reply, "")


def find_failure_status(text: str) -> str:
    """The first enhanced status of a failure (class 4 or 5) in ``text``; '' if none."""
    for match in STATUS_PATTERN.finditer(text or ""):
        if match.group(1) in "45":
            return ".".join(match.groups())
    return ""
