"""Message-level signs: does this look like a bounce at all, and is it only a delay warning?

A reason is read per recipient from the server's reply; these signs are read from the whole
message. Without any sign of a bounce, a message is not one, even if its text happens to say
"mailbox full" (a reader's reply may). A delay warning says the message is still queued and
will be retried; the real outcome arrives later as its own report.
"""

from __future__ import annotations

import re
from email.message import Message

from service.bounces.parse_address import addresses_in, is_system_address
from service.bounces.parse_message import has_header, header
from service.bounces.reasons_match import PatternTable

# Display names that mail systems sign bounces with.
BOUNCE_SENDER_NAMES = (
    r"mail delivery (?:subsystem|system|service)", r"mailer[- ]daemon", r"postmaster",
    r"internet mail delivery", r"mail administrator", r"system administrator",
    r"courier mail server",
)
BOUNCE_SUBJECTS = (
    r"undeliver(?:ed|able)", r"returned mail", r"returning message",
    r"delivery status notification",
    r"delivery (?:failure|failed|has failed|problem|notification|report)",
    r"mail delivery (?:failed|failure)",
    r"failure notice", r"non[- ]?deliver", r"could not (?:be )?deliver", r"not (?:been )?delivered",
    r"permanent (?:delivery )?(?:error|failure)", r"^rejected:", r"returned to sender",
    r"mail system error",
    r"^warning: (?:message|could not)", r"delayed mail",
    r"delivery (?:delayed|notification: delay)",
    r"message (?:you sent )?blocked", r"notice: mail delivery status",
    r"退信", r"未(?:能)?送达", r"投递失败", r"发送失败", r"被退回", r"無法(?:送達|傳遞)",
    r"配信(?:エラー|不能|失敗)", r"(?:送信|配送)(?:エラー|失敗)", r"エラーメール",
    r"unzustellbar", r"nicht zugestellt", r"zustellung fehlgeschlagen", r"non remis",
    r"non distribuable",
)
# Opening words of bounce bodies, for the ones with neither a report part nor a telling subject.
BOUNCE_TEXTS = (
    r"this is the mail system at host", r"qmail-send program",
    r"created automatically by mail delivery software",
    r"delivery has failed to these recipients", r"delivery to the following recipients? failed",
    r"(?:could not|couldn't|cannot|can't) be delivered to (?:one or more|the following)",
    r"permanent fatal errors",
    r"transcript of session follows", r"was not delivered to", r"unable to deliver your message",
    r"did not reach some or all of the intended recipients",
    r"error occurred while trying to deliver",
    r"undeliverable mail", r"permanent fatal delivery errors",
    r"this report relates to a message you sent",
    r"undeliverable due to the following reason", r"error has occurred while attempting to deliver",
    r"unable to deliver your message to the following",
    r"your message (?:to .{1,80} )?(?:couldn't|could not|wasn't|was not) (?:be )?delivered",
    r"退信原因", r"被退回", r"配信に失敗", r"送信に失敗しました", r"配信できませんでした",
)
# Only whole phrases: a bounce's subject often carries the original's ("Undeliverable: Shipping
# delayed"), and a lone word must not turn a failure into a warning.
DELAY_SUBJECTS = (
    r"delayed mail", r"delivery delayed", r"still (?:being )?(?:retried|undelivered|trying)",
    r"not (?:yet )?(?:been )?delivered yet", r"delivery status notification \(delay\)",
    r"^warning: (?:could not send|message .{0,60} (?:delayed|undelivered))",
    r"temporar(?:y|ily) (?:deferred|undeliverable)", r"延迟投递", r"配信遅延",
)
DELAY_TEXTS = (
    r"this is a warning (?:message )?only", r"you do not need to resend",
    r"no action is required on your part",
    r"delivery attempts will continue", r"will be retried until", r"will (?:keep )?retry for",
    r"message not delivered yet",
    r"has not yet been delivered", r"(?:will|shall) (?:continue|keep) (?:trying|to try|retrying)",
)


# Replies and forwards quote any subject; none of these is a mail system's own report.
_REPLY_PREFIX = re.compile(r"^\s*(?:re|fw|fwd|aw|wg|sv|vs|回复|回覆|答复|转发)\s*[:：]", re.IGNORECASE)
_SENDER_NAME = PatternTable([("sender", BOUNCE_SENDER_NAMES)])
_BOUNCE_SUBJECT = PatternTable([("subject", BOUNCE_SUBJECTS)])
_BOUNCE_TEXT = PatternTable([("text", BOUNCE_TEXTS)])
_DELAY_SUBJECT = PatternTable([("subject", DELAY_SUBJECTS)])
_DELAY_TEXT = PatternTable([("text", DELAY_TEXTS)])
OPENING_CHARS = 4000  # of the text where bounce wording is looked for


def from_mail_system(message: Message) -> bool:
    """True when the From names a mail system (MAILER-DAEMON, postmaster, Mail Delivery ...)."""
    sender = header(message, "from")
    if _SENDER_NAME.search(sender.lower()):
        return True
    addresses = addresses_in(sender)
    return bool(addresses) and is_system_address(addresses[0]) or sender.strip() in ("<>", "<@>")


def says_bounce(message: Message, subject: str) -> bool:
    """True when the sender, the subject or X-Failed-Recipients say this is a bounce; these
    outweigh an Auto-Submitted header, which bounces and auto-replies both carry."""
    subject_says = not _REPLY_PREFIX.match(subject) and _BOUNCE_SUBJECT.search(subject.lower())
    return (
        from_mail_system(message)
        or bool(subject_says)
        or has_header(message, "x-failed-recipients")
    )


def looks_like_bounce(message: Message, subject: str, text: str) -> bool:
    """True when sender, subject, headers or opening words say this is a bounce."""
    return says_bounce(message, subject) or _BOUNCE_TEXT.search(text[:OPENING_CHARS].lower())


def looks_like_delay(subject: str, text: str) -> bool:
    """True when a report is a warning that delivery is still being tried."""
    return _DELAY_SUBJECT.search(subject.lower()) or _DELAY_TEXT.search(
        text[:OPENING_CHARS].lower()
    )
