"""Postmark webhooks: basic auth, and bounce types mapped from Details, never Description."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.bounces.webhooks import WebhookRejected, verify_postmark
from tests.bounces.webhook_fixtures import load, maybe

USER, PASSWORD = "postmark", "s3cret-pässword"


def basic(user: str = USER, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def verify(body: bytes | dict, header: str | None = None, **kwargs: Any) -> list:
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    options = {"username": USER, "password": PASSWORD, **kwargs}
    return verify_postmark(body, basic() if header is None else header, **options)


def test_a_hard_bounce_is_accepted() -> None:
    [event] = verify(load("postmark_bounce.json"))
    assert (event.provider, event.event_id, event.kind, event.reason, event.status) == (
        "postmark",
        "4323372036854775807",
        "hard",
        "userunknown",
        "5.1.1",
    )
    assert (event.recipient, event.message_id) == (
        "gone.reader@example.org",
        "883953f4-6105-42a2-a16a-77a8eac79483",
    )
    assert event.occurred_at == datetime(2026, 3, 1, 11, 58, 30, 907025, tzinfo=UTC)


def test_a_spam_complaint_is_a_complaint() -> None:
    [event] = verify(load("postmark_spam_complaint.json"))
    assert (event.event_id, event.kind, event.reason, event.recipient) == (
        "42",
        "complaint",
        "feedback",
        "annoyed@example.org",
    )


def test_the_same_bounce_twice_has_the_same_event_id() -> None:
    # Postmark has no timestamp to sign, so duplicates are the caller's to skip by event_id.
    first, second = verify(load("postmark_bounce.json")), verify(load("postmark_bounce.json"))
    assert [e.event_id for e in first] == [e.event_id for e in second] == ["4323372036854775807"]


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer abc",
        basic(password="wrong"),
        basic(user="other"),
        basic(password=PASSWORD + "x"),
        basic(password=""),
        "Basic " + base64.b64encode(USER.encode()).decode(),  # no colon
        "Basic !!!",
        "Basic éé",
        "Basic " + base64.b64encode(b"\xff\xfe:\x00").decode(),
    ],
)
def test_wrong_credentials_are_401(header: str) -> None:
    with pytest.raises(WebhookRejected) as caught:
        verify(load("postmark_bounce.json"), header)
    assert caught.value.status == 401


def test_scheme_is_case_insensitive() -> None:
    assert len(verify(load("postmark_bounce.json"), basic().replace("Basic", "basic"))) == 1


@pytest.mark.parametrize(("user", "password"), [("", ""), (USER, ""), ("", PASSWORD)])
def test_unconfigured_credentials_reject_everything(user: str, password: str) -> None:
    # An empty password would otherwise accept "Basic " + base64(":").
    with pytest.raises(WebhookRejected) as caught:
        verify(
            load("postmark_bounce.json"), basic(user, password), username=user, password=password
        )
    assert caught.value.status == 401


def bounce(bounce_type: str, details: str = "") -> tuple[str, str]:
    record = {**load("postmark_bounce.json"), "Type": bounce_type, "Details": details}
    [event] = verify(record)
    return event.kind, event.reason


@pytest.mark.parametrize(
    ("bounce_type", "details", "expected"),
    [
        ("HardBounce", "smtp;550 5.1.1 user unknown", ("hard", "userunknown")),
        # The fixed Description of HardBounce says "unknown user"; Details decide.
        ("HardBounce", "smtp;554 5.7.1 rejected: blocked by policy", ("soft", "blocked")),
        ("HardBounce", "", ("hard", "userunknown")),
        ("HardBounce", "smtp;452 4.2.2 over quota", ("soft", "mailboxfull")),
        ("SoftBounce", "smtp;550 5.1.1 user unknown", ("soft", "userunknown")),
        ("SoftBounce", "", ("soft", "undefined")),
        ("Transient", "message delayed", ("ignore", "undefined")),
        ("DnsError", "", ("soft", "networkerror")),
        ("DnsError", "domain example.invalid not found", ("soft", "hostunknown")),
        ("BadEmailAddress", "", ("hard", "userunknown")),
        ("Blocked", "", ("soft", "blocked")),
        ("DMARCPolicy", "", ("soft", "authfailure")),
        ("SpamNotification", "", ("soft", "spamdetected")),
        ("VirusNotification", "", ("soft", "filtered")),
        ("AutoResponder", "out of office", ("ignore", "vacation")),
        ("AddressChange", "", ("ignore", "hasmoved")),
        ("ManuallyDeactivated", "", ("ignore", "suspend")),
        ("Unsubscribe", "", ("complaint", "feedback")),
        ("SpamComplaint", "", ("complaint", "feedback")),
        ("SMTPApiError", "", ("ignore", "systemerror")),
        ("Unknown", "", ("soft", "undefined")),
        ("Unknown", "550 5.1.1 no such user", ("hard", "userunknown")),
        ("SomethingNew", "", ("soft", "undefined")),
    ],
)
def test_bounce_type_mapping(bounce_type: str, details: str, expected: tuple[str, str]) -> None:
    assert bounce(bounce_type, details) == expected


def test_other_record_types_have_no_events() -> None:
    delivery = {"RecordType": "Delivery", "MessageID": "x", "Recipient": "a@example.org"}
    assert verify(delivery) == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1]",
        json.dumps({**load("postmark_bounce.json"), "ID": None}).encode(),
        json.dumps({**load("postmark_bounce.json"), "ID": True}).encode(),
        json.dumps({**load("postmark_bounce.json"), "Email": "nobody"}).encode(),
        json.dumps({**load("postmark_bounce.json"), "Type": None}).encode(),
        json.dumps({**load("postmark_bounce.json"), "BouncedAt": "yesterday"}).encode(),
    ],
)
def test_malformed_bodies_are_400(body: bytes) -> None:
    with pytest.raises(WebhookRejected) as caught:
        verify(body)
    assert caught.value.status == 400


def test_credentials_are_checked_before_the_body_is_read() -> None:
    with pytest.raises(WebhookRejected) as caught:
        verify(b"not json", basic(password="wrong"))
    assert caught.value.status == 401


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=300), header=st.text(max_size=80) | st.none())
def test_arbitrary_requests_are_rejected_cleanly(body: bytes, header: str | None) -> None:
    with pytest.raises(WebhookRejected):
        verify_postmark(body, header, username=USER, password=PASSWORD)


RECORD = st.fixed_dictionaries(
    {},
    optional={
        "RecordType": maybe(st.sampled_from(["Bounce", "SpamComplaint", "Delivery"])),
        "ID": maybe(st.sampled_from([1, "2", 2**70])),
        "Type": maybe(st.sampled_from(["HardBounce", "SoftBounce", "Transient", "Nope"])),
        "Email": maybe(st.sampled_from(["a@example.org", "bad"])),
        "Details": maybe(st.text(max_size=60)),
        "BouncedAt": maybe(st.sampled_from(["2026-03-01T11:58:30.9070259Z", "2026-03-01", "x"])),
        "MessageID": maybe(st.just("m")),
    },
)


@settings(max_examples=200, deadline=None)
@given(data=maybe(RECORD) | st.lists(maybe(RECORD), max_size=3))
def test_authorised_arbitrary_records_give_events_or_400(data: Any) -> None:
    try:
        events = verify(json.dumps(data).encode())
    except WebhookRejected as rejected:
        assert rejected.status == 400
        return
    assert all(e.provider == "postmark" for e in events)
