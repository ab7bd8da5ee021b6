"""Wire-form messages: what the fast path builds parses back exactly, and goes out intact over
pipelined and plain SMTP alike, with 4xx, 5xx and dropped connections told apart."""

from __future__ import annotations

import email
import email.policy

import pytest

from service.config import PROJECT_ROOT
from service.issues import load_issues
from service.issues.compile import IssueRenderer
from service.issues.personalise import recipient_values
from service.mail.message import HeaderInjectionError
from service.mail.transport import Outcome, SmtpConnection, Stage, parse_smtp_url, parse_smtp_urls
from service.sending.assembly import MessageTemplate, Recipient
from tests.conftest import TEST_BASE_URL
from tests.smtp_sink import SmtpSink

RENDERER = IssueRenderer(PROJECT_ROOT / "templates", TEST_BASE_URL, "嵌入式AI简报")
ISSUE = load_issues(PROJECT_ROOT / "issues").by_slug("2026-09-28")
COMPILED = RENDERER.compile(ISSUE)
VALUES = recipient_values(
    email="读者@example.com", name="张三", unsubscribe_url=f"{TEST_BASE_URL}/unsubscribe/T",
    preferences_url=f"{TEST_BASE_URL}/preferences/P", web_url=f"{TEST_BASE_URL}/issues/x",
)


def _message(name: str = "张三 \"老\" 读者", address: str = "reader@example.com") -> bytes:
    template = MessageTemplate(COMPILED, mail_from="嵌入式AI简报 <news@example.org>",
                               reply_to="编辑 <editor@example.org>", list_id="<news.example.org>")
    return template.render(Recipient(address, name, "<nl.1.2.0@example.org>", VALUES,
                                     "mailto:unsubscribe-x@example.org"))


def test_the_wire_form_parses_back_exactly() -> None:
    raw = _message()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    html, text = COMPILED.personalise(VALUES)
    wire_text = parsed.get_body(("plain",)).get_content()
    assert "\n" not in wire_text.replace("\r\n", "")  # canonical CRLF inside the base64
    assert wire_text.replace("\r\n", "\n") == text
    assert parsed.get_body(("html",)).get_content().replace("\r\n", "\n") == html
    assert parsed["Subject"] == COMPILED.subject
    assert parsed["From"].addresses[0].display_name == "嵌入式AI简报"
    assert parsed["To"].addresses[0].display_name == '张三 "老" 读者'
    assert parsed["To"].addresses[0].addr_spec == "reader@example.com"
    assert parsed["Reply-To"].addresses[0].addr_spec == "editor@example.org"
    assert parsed["List-Unsubscribe"] == f"<{TEST_BASE_URL}/unsubscribe/T>, <mailto:unsubscribe-x@example.org>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["List-Id"] == "<news.example.org>" and parsed["Message-ID"] == "<nl.1.2.0@example.org>"
    assert parsed["Date"] and parsed.defects == []


def test_no_line_needs_dot_stuffing_and_none_is_too_long() -> None:
    raw = _message()
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    lines = raw.split(b"\r\n")
    assert not any(line.startswith(b".") for line in lines)
    assert max(len(line) for line in lines) <= 998


def test_header_injection_is_refused() -> None:
    for name in ("Eve\r\nBcc: x@example.com", "Eve\u2028Bcc: x@example.com"):
        with pytest.raises(HeaderInjectionError):
            _message(name=name)
    with pytest.raises(HeaderInjectionError):
        _message(address="a@example.com\r\nBcc: x@example.com")


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "plain"])
def test_replies_are_classified_over_both_paths(pipelining: bool) -> None:
    sink = SmtpSink(pipelining=pipelining).start()
    connection = SmtpConnection(parse_smtp_url(sink.url))
    try:
        data = _message()
        assert connection.send_prepared("b@example.org", "ok@example.com", data).outcome is Outcome.SENT
        sink.faults.refuse.add("gone@example.com")
        refused = connection.send_prepared("b@example.org", "gone@example.com", data)
        assert (refused.outcome, refused.code) == (Outcome.FAILED, 550)
        sink.faults.defer_all = 1
        deferred = connection.send_prepared("b@example.org", "later@example.com", data)
        assert (deferred.outcome, deferred.code) == (Outcome.DEFERRED, 451)
        sink.faults.disconnect_next = 1
        dropped = connection.send_prepared("b@example.org", "drop@example.com", data)
        assert (dropped.outcome, dropped.stage) == (Outcome.SERVER, Stage.MESSAGE)
        again = connection.send_prepared("b@example.org", "after@example.com", data)
        assert again.outcome is Outcome.SENT  # reconnected
        got = sink.received
        assert [r.rcpt_tos[0] for r in got] == ["ok@example.com", "after@example.com"]
        assert got[0].data == data  # byte for byte
        sink.faults.refuse_sender = "554 5.7.1 sender not allowed"
        sender = connection.send_prepared("b@example.org", "x@example.com", data)
        assert (sender.outcome, sender.stage, sender.code) == (Outcome.SERVER, Stage.MAIL, 554)
        sink.faults.refuse_sender = ""
        sink.faults.refuse_message = "554 5.6.0 message refused"
        message = connection.send_prepared("b@example.org", "x@example.com", data)
        assert (message.outcome, message.stage, message.code) == (Outcome.FAILED, Stage.MESSAGE, 554)
    finally:
        connection.close()
        sink.stop()


def test_a_refused_greeting_or_login_is_the_servers_fault() -> None:
    sink = SmtpSink().start()
    try:
        sink.faults.greeting = "554 5.7.1 no service for you"
        greeting = SmtpConnection(parse_smtp_url(sink.url)).send_prepared(
            "b@example.org", "x@example.com", _message())
        assert (greeting.outcome, greeting.stage, greeting.code) == (
            Outcome.SERVER, Stage.GREETING, 554)
        sink.faults.greeting = ""
        sink.faults.refuse_login = True
        login = SmtpConnection(parse_smtp_url(sink.url.replace("//", "//user:secret@"))).send(
            "b@example.org", "x@example.com", _message())
        assert (login.outcome, login.stage, login.code) == (Outcome.SERVER, Stage.AUTH, 535)
        assert login.server_unusable and greeting.server_unusable
        assert sink.received == []
    finally:
        sink.stop()


def test_failover_to_the_next_server() -> None:
    from service.mail.failover import FailoverTransport
    from tests.smtp_sink import free_port

    sink = SmtpSink().start()
    try:
        servers = parse_smtp_urls(f"smtp://127.0.0.1:{free_port()}, {sink.url}")
        transport = FailoverTransport(servers)
        reply = transport.send_prepared("b@example.org", "x@example.com", _message())
        assert reply.outcome is Outcome.SENT and len(sink.received) == 1
        transport.close()
    finally:
        sink.stop()
