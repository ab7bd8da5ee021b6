"""Any bytes in, an answer out: random input and damaged corpus mail never raise."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.bounces.classify import Classification, classify
from service.bounces.reasons import VOCABULARY

CORPUS = sorted((Path(__file__).parent / "corpus").glob("*.eml"))
MAILS = [path.read_bytes() for path in CORPUS]
KINDS = {"hard", "soft", "complaint", "ignore"}
HEADERS = [
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=zz\n",
    b"Content-Type: message/delivery-status\n",
    b"Content-Transfer-Encoding: base64\n",
    b"Content-Type: text/plain; charset=x-no-such-charset\n",
    b"Content-Type: text/plain; charset=punycode\n",
    b"Subject: =?gb2312?B?////?= =?utf-8?Q?=FF=FE?=\n",
    b"Final-Recipient: rfc822; \xff\xfe@\x00\n",
    b"Status: 9.9.9\nAction: failed\n",
    b"\n--zz\nContent-Type: message/rfc822\n\n",
    b"From: MAILER-DAEMON\n",
]
settings_ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check(result: Classification) -> None:
    assert isinstance(result, Classification)
    assert result.kind in KINDS
    assert result.reason in VOCABULARY
    assert len(result.diagnostic) <= 1000
    for recipient in result.recipients:
        assert recipient.address == recipient.address.lower()
        assert len(recipient.diagnostic) <= 1000
    if result.error:
        assert (result.kind, result.reason) == ("soft", "undefined")


@settings_
@given(st.binary(max_size=4000))
def test_any_bytes(raw: bytes) -> None:
    _check(classify(raw))


@settings_
@given(st.sampled_from(MAILS), st.floats(min_value=0, max_value=1))
def test_truncated_corpus_mail(mail: bytes, fraction: float) -> None:
    _check(classify(mail[: int(len(mail) * fraction)]))


@settings_
@given(
    st.sampled_from(MAILS),
    st.lists(st.tuples(st.floats(min_value=0, max_value=1), st.integers(0, 255)), max_size=40),
)
def test_corpus_mail_with_flipped_bytes(mail: bytes, flips: list[tuple[float, int]]) -> None:
    data = bytearray(mail)
    for where, value in flips:
        data[min(int(where * len(data)), len(data) - 1)] = value
    _check(classify(bytes(data)))


CHUNKS = st.sampled_from(HEADERS) | st.binary(max_size=60)


@settings_
@given(
    st.sampled_from(MAILS),
    st.lists(st.tuples(st.floats(min_value=0, max_value=1), CHUNKS), min_size=1, max_size=6),
)
def test_corpus_mail_with_inserted_headers(mail: bytes, inserts: list[tuple[float, bytes]]) -> None:
    data = mail
    for where, chunk in inserts:
        cut = data.find(b"\n", int(where * len(data))) + 1
        data = data[:cut] + chunk + data[cut:]
    _check(classify(data))


def test_empty_and_headerless_input_is_an_error() -> None:
    for raw in (b"", b"   \r\n\r\n", b"\x00\x01\x02 no headers here", b"\n\nbody only"):
        result = classify(raw)
        assert (result.kind, result.reason) == ("soft", "undefined")
        assert result.error


def test_not_bytes_is_an_error_not_an_exception() -> None:
    result = classify(None)  # type: ignore[arg-type]
    assert result.error and result.kind == "soft"


def test_a_report_with_thousands_of_recipients_is_read_once_and_capped() -> None:
    block = b"Final-Recipient: rfc822; a%d@example.com\nAction: failed\nStatus: 5.1.1\n\n"
    report = b"".join(block % n for n in range(3000))
    raw = (
        b"From: MAILER-DAEMON@mx.example.net\nSubject: Undelivered Mail Returned to Sender\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
        b"--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
        + report + b"--b--\n"
    )
    result = classify(raw)
    assert (result.kind, result.reason) == ("hard", "userunknown")
    assert len(result.recipients) == 100
