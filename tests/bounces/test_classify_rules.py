"""The decision rules, one at a time, on small synthetic bounces."""

from __future__ import annotations

import gc

import pytest

from service.bounces import parse_message
from service.bounces.classify import classify

DAEMON = "MAILER-DAEMON@mx.example.net"


def dsn(diagnostic: str, status: str = "5.0.0", action: str = "failed", text: str = "") -> bytes:
    """A minimal RFC 3464 bounce for one recipient."""
    return f"""From: MAILER-DAEMON@mx.example.net
To: bounces+tok-1@bounces.example.org
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

{text or "Delivery failed."}

--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; Reader@Example.COM
Action: {action}
Status: {status}
Diagnostic-Code: smtp; {diagnostic}

--b--
""".encode()


def plain(body: str, subject: str = "failure notice", sender: str = DAEMON) -> bytes:
    return f"From: {sender}\nTo: news@example.org\nSubject: {subject}\n\n{body}\n".encode()


@pytest.mark.parametrize(
    ("diagnostic", "status", "kind", "reason"),
    [
        ("550 5.1.1 Message blocked as spam", "5.1.1", "soft", "spamdetected"),
        ("552 5.2.2 Mailbox full", "5.2.2", "soft", "mailboxfull"),
        ("550 5.7.1 Quota exceeded for this mailbox", "5.7.1", "soft", "mailboxfull"),
        ("554 5.7.1 Daily sending quota exceeded", "5.7.1", "soft", "ratelimited"),
        ("550 5.1.1 Sender address rejected: User unknown", "5.1.1", "soft", "rejected"),
        ("553 5.1.8 Sender address rejected: Domain not found", "5.1.8", "soft", "rejected"),
        ("450 4.1.1 Recipient address rejected: User unknown", "4.1.1", "soft", "userunknown"),
        ("556 5.1.10 Recipient address has null MX", "5.1.10", "hard", "notaccept"),
        ("550 5.2.1 Mailbox disabled, not accepting messages", "5.2.1", "soft", "suspend"),
        ("550 Requested action not taken", "5.1.1", "hard", "userunknown"),
        ("550 Requested action not taken", "5.7.26", "soft", "authfailure"),
        ("550 Requested action not taken", "5.0.0", "soft", "undefined"),
        ("554 5.7.1 Relay access denied", "5.7.1", "soft", "norelaying"),
        ("421 4.7.0 Too many concurrent SMTP connections", "4.7.0", "soft", "toomanyconn"),
    ],
)
def test_words_before_codes(diagnostic: str, status: str, kind: str, reason: str) -> None:
    result = classify(dsn(diagnostic, status))
    assert (result.kind, result.reason) == (kind, reason)
    assert result.recipients[0].address == "reader@example.com"
    assert result.verp_local == "bounces+tok-1"


def test_a_bare_550_means_unknown_user_only_at_rcpt() -> None:
    reply = "550 Requested action not taken"
    rcpt = plain(f"<reader@example.com>:\nSMTP error after RCPT TO:<reader@example.com>:\n{reply}")
    data = plain(f"<reader@example.com>:\nSMTP error after end of DATA:\n{reply}")
    assert (classify(rcpt).kind, classify(rcpt).reason) == ("hard", "userunknown")
    assert (classify(data).kind, classify(data).reason) == ("soft", "undefined")


def test_a_timeout_that_outlived_the_queue_is_expired() -> None:
    result = classify(dsn("smtp; 451 4.4.1 Connection timed out", "4.4.7"))
    assert (result.kind, result.reason) == ("soft", "expired")


def test_delayed_and_delivered_reports_are_not_bounces() -> None:
    assert classify(dsn("421 try later", "4.4.1", action="delayed")).reason == "delayed"
    assert classify(dsn("250 ok", "2.0.0", action="delivered")).kind == "ignore"


def test_a_delay_warning_without_a_report() -> None:
    body = (
        "This is a warning only. You do not need to resend your message.\n\n"
        "  reader@example.com\n  451 4.4.1 timeout"
    )
    result = classify(plain(body, subject="Warning: could not send message for past 4 hours"))
    assert (result.kind, result.reason) == ("ignore", "delayed")


def test_the_original_subject_in_a_bounce_subject_does_not_decide() -> None:
    raw = dsn("550 5.1.1 user unknown", "5.1.1").replace(
        b"Subject: Undelivered Mail Returned to Sender", b"Subject: Undeliverable: Shipping delayed"
    )
    assert classify(raw).reason == "userunknown"
    question = "Why did my copy bounce? user unknown?"
    reply = plain(question, subject="Re: Undelivered Mail", sender="a@x.example")
    assert classify(reply).kind == "ignore"


def test_a_bounce_without_any_reason_is_soft_undefined() -> None:
    body = "Delivery to the following recipients failed.\n\n  reader@example.com\n"
    result = classify(plain(body))
    assert (result.kind, result.reason) == ("soft", "undefined")
    assert [r.address for r in result.recipients] == ["reader@example.com"]


def test_ordinary_mail_is_ignored_even_when_it_names_a_reason() -> None:
    raw = plain("My mailbox is full, user unknown!", subject="Hi", sender="a@example.net")
    result = classify(raw)
    assert (result.kind, result.reason) == ("ignore", "undefined")


def test_auto_submitted_on_a_bounce_does_not_make_it_a_vacation() -> None:
    raw = dsn("550 5.1.1 user unknown", "5.1.1")
    raw = raw.replace(b"MIME-Version", b"Auto-Submitted: auto-replied\nMIME-Version")
    assert classify(raw).reason == "userunknown"


@pytest.mark.parametrize(
    "extra",
    [
        "Auto-Submitted: auto-replied",
        "X-Autoreply: yes",
        "Precedence: auto_reply",
        "Subject: 自动回复: 你好",
        "Subject: Out of Office: back Monday",
    ],
)
def test_auto_replies(extra: str) -> None:
    head = f"From: Reader <reader@example.com>\nTo: news@example.org\n{extra}\n"
    raw = f"{head}In-Reply-To: <m1@news.example.org>\n\nAway.\n"
    result = classify(raw.encode())
    assert (result.kind, result.reason) == ("ignore", "vacation")
    assert result.message_id == "m1@news.example.org"
    assert [r.address for r in result.recipients] == ["reader@example.com"]


def test_verp_found_in_envelope_headers_srs_and_received() -> None:
    for head in (
        "X-Original-To: bounces+AbC.d-_e@bounces.example.org",
        "Envelope-To: SRS0=x1=ab=bounces.example.org=bounces+AbC.d-_e@fwd.example.net",
        "Received: from x by y for <bounces+AbC.d-_e@bounces.example.org>; Tue, 14 Oct 2025",
    ):
        raw = plain("reader@example.com\n550 5.1.1 no such user")
        raw = raw.replace(b"Subject", f"{head}\nSubject".encode())
        assert classify(raw).verp_local == "bounces+AbC.d-_e", head


def test_headers_in_other_charsets_are_decoded() -> None:
    subject = "=?gb2312?B?z7XNs83L0MU=?="  # 系统退信, "system bounce"
    body = "收件人：reader@example.cn\n退信原因：收件人不存在".encode("gbk")
    head = f"From: postmaster@mail.example.cn\nSubject: {subject}\n"
    raw = f"{head}Content-Type: text/plain; charset=gbk\n\n".encode() + body
    result = classify(raw)
    assert (result.kind, result.reason) == ("hard", "userunknown")


def test_classification_keeps_nothing_alive() -> None:
    """The per-message lookup caches must let each parsed message go once it is classified."""
    for _ in range(3):
        classify(dsn("550 5.1.1 user unknown", "5.1.1"))
    gc.collect()
    caches = (parse_message._PARTS, parse_message._HEADER_INDEX, parse_message._CONTENT_TYPES)
    assert [len(cache) for cache in caches] == [0, 0, 0]
