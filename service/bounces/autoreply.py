"""Auto-replies: out-of-office notices and other answers a machine wrote for a reader.

They are not bounces: the address works, its owner is away. RFC 3834 asks auto-responders for
``Auto-Submitted: auto-replied``, but delivery reports carry the same header, so that header
alone is not enough; the caller rules out bounces first. Many responders (QQ Mail, older
Exchange) set no header at all and say it in the Subject, in the reader's language.
"""

from __future__ import annotations

import re
from email.message import Message

from service.bounces.parse_message import has_header, header
from service.bounces.reasons_match import PatternTable

# Headers whose mere presence marks an auto-reply.
AUTOREPLY_HEADERS = ("x-autoreply", "x-autorespond", "x-autoresponder", "x-mail-autoreply",
                     "x-autoreply-from", "x-vacation")
# Subject wording of auto-replies, in the languages our readers write in.
AUTOREPLY_SUBJECTS = (
    r"^auto:", r"\bauto(?:matic|matisk)?[- ]?(?:reply|response|answer|antwort|svar)\b",
    r"\bautoreply\b",
    r"\bout of (?:the )?office\b", r"\bout-of-office\b", r"^ooo\b",
    r"\bvacation (?:reply|notice|message|response)\b",
    r"\bon (?:vacation|holiday|leave)\b", r"\babwesenheit", r"\bréponse automatique\b",
    r"\babsence\b",
    r"\brespuesta automática\b", r"\brisposta automatica\b", r"\bresposta automática\b",
    r"自动回复", r"自動回覆", r"自动答复", r"休假", r"自動応答", r"自動返信", r"不在(?:の)?(?:お知らせ|通知)",
    r"자동\s?응답",
)
_SUBJECT = PatternTable([("subject", AUTOREPLY_SUBJECTS)])
_PRECEDENCE = re.compile(r"^\s*auto[_-]?reply\b", re.IGNORECASE)
_AUTO_REPLIED = re.compile(r"^\s*auto-replied\b", re.IGNORECASE)


def is_autoreply(message: Message, subject: str) -> bool:
    """True when headers or subject say a responder wrote this (bounces must be ruled out first)."""
    if _SUBJECT.search(subject.lower()):
        return True
    if _AUTO_REPLIED.match(header(message, "auto-submitted")):
        return True
    if _PRECEDENCE.match(header(message, "precedence")):
        return True
    return any(has_header(message, name) for name in AUTOREPLY_HEADERS)
