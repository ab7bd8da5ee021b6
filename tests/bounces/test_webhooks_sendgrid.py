"""SendGrid's Signed Event Webhook: ECDSA P-256 over timestamp and body, with a key made
here and one request SendGrid itself signed."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from service.bounces.webhooks import WebhookRejected, load_public_key, verify_sendgrid
from service.bounces.webhooks.sendgrid import SIGNATURE_HEADER, TIMESTAMP_HEADER
from tests.bounces.webhook_fixtures import SpyReplayStore, load, maybe

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())


def b64_public(key: Any) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


PUBLIC = b64_public(KEY)


def signed_headers(body: bytes, *, key: Any = KEY, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int((NOW - timedelta(seconds=20)).timestamp()) if timestamp is None else timestamp)
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {SIGNATURE_HEADER: base64.b64encode(signature).decode(), TIMESTAMP_HEADER: stamp}


BODY = json.dumps(load("sendgrid_events.json")).encode()


def verify(
    body: bytes, headers: dict[str, str], replay: SpyReplayStore | None = None, **kwargs: Any
) -> list:
    options: dict[str, Any] = {"public_key_b64": PUBLIC, "now": NOW}
    options.update(kwargs)
    return verify_sendgrid(
        body, headers, replay=replay if replay is not None else SpyReplayStore(), **options
    )


def test_a_good_request_is_accepted_once() -> None:
    store, headers = SpyReplayStore(), signed_headers(BODY)
    events = verify(BODY, headers, store)
    assert [(e.event_id, e.kind, e.reason) for e in events] == [
        ("sg-bounce-1", "hard", "userunknown"),
        ("sg-blocked-1", "soft", "blocked"),
        ("sg-dropped-1", "ignore", "suspend"),
        ("sg-deferred-1", "ignore", "mailboxfull"),
        ("sg-spam-1", "complaint", "feedback"),
        ("sg-delivered-1", "ignore", "delivered"),
        ("sg-open-1", "ignore", "undefined"),
    ]
    first = events[0]
    assert (first.provider, first.recipient, first.status) == (
        "sendgrid",
        "gone.reader@example.org",
        "5.1.1",
    )
    assert first.message_id == "20260301.issue7.42@news.example.com"
    assert first.occurred_at == datetime.fromtimestamp(1772366310, UTC)
    assert len(store.calls) == 1
    with pytest.raises(WebhookRejected) as caught:
        verify(BODY, headers, store)
    assert (caught.value.status, caught.value.message) == (
        401,
        "SendGrid webhook was already received",
    )


def test_a_request_signed_by_sendgrid_verifies() -> None:
    vector = load("sendgrid_signed_vector.json")
    headers = {SIGNATURE_HEADER: vector["signature"], TIMESTAMP_HEADER: vector["timestamp"]}
    then = datetime.fromtimestamp(int(vector["timestamp"]), UTC)
    [event] = verify(
        vector["body"].encode(), headers, public_key_b64=vector["public_key"], now=then
    )
    assert (event.kind, event.reason, event.recipient) == ("ignore", "suspend", "hello@world.com")
    with pytest.raises(WebhookRejected):  # the trailing CRLF is part of what SendGrid signed
        verify(
            vector["body"].strip().encode(), headers, public_key_b64=vector["public_key"], now=then
        )


def test_header_names_are_case_insensitive() -> None:
    headers = {name.lower(): value for name, value in signed_headers(BODY).items()}
    assert len(verify(BODY, headers)) == 7


def test_the_other_valid_ecdsa_signature_is_still_a_replay() -> None:
    """(r, s) and (r, n - s) both verify; replays are keyed on what was signed instead."""
    store, headers = SpyReplayStore(), signed_headers(BODY)
    verify(BODY, headers, store)
    r, s = decode_dss_signature(base64.b64decode(headers[SIGNATURE_HEADER]))
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    flipped = base64.b64encode(encode_dss_signature(r, order - s)).decode()
    with pytest.raises(WebhookRejected) as caught:
        verify(BODY, {**headers, SIGNATURE_HEADER: flipped}, store)
    assert "already received" in caught.value.message


STALE = int((NOW - timedelta(minutes=10)).timestamp())
FUTURE = int((NOW + timedelta(minutes=10)).timestamp())
REJECTIONS = {
    "tampered body": (
        BODY.replace(b"Gone.Reader", b"victim"),
        signed_headers(BODY),
        401,
        "does not match",
    ),
    "other key": (BODY, signed_headers(BODY, key=OTHER_KEY), 401, "does not match"),
    "stale": (BODY, signed_headers(BODY, timestamp=STALE), 401, "too old"),
    "future": (BODY, signed_headers(BODY, timestamp=FUTURE), 401, "future"),
    "timestamp changed": (
        BODY,
        {**signed_headers(BODY), TIMESTAMP_HEADER: str(int(NOW.timestamp()))},
        401,
        "does not match",
    ),
    "no headers": (BODY, {}, 401, "missing"),
    "no signature": (BODY, {TIMESTAMP_HEADER: "1772366380"}, 401, "missing"),
    "signature not base64": (
        BODY,
        {**signed_headers(BODY), SIGNATURE_HEADER: "***"},
        400,
        "base64",
    ),
    "signature not DER": (
        BODY,
        {**signed_headers(BODY), SIGNATURE_HEADER: "aGVsbG8="},
        401,
        "does not match",
    ),
    "timestamp not digits": (
        BODY,
        {**signed_headers(BODY), TIMESTAMP_HEADER: "soon"},
        400,
        "seconds",
    ),
    "not JSON": (b"nope", signed_headers(b"nope"), 400, "JSON"),
    "not an array": (b"{}", signed_headers(b"{}"), 400, "array"),
    "no event id": (
        b'[{"event":"bounce","email":"a@b.c"}]',
        signed_headers(b'[{"event":"bounce","email":"a@b.c"}]'),
        400,
        "sg_event_id",
    ),
}


@pytest.mark.parametrize("case", REJECTIONS)
def test_rejections_leave_no_trace(case: str) -> None:
    body, headers, status, words = REJECTIONS[case]
    store = SpyReplayStore()
    with pytest.raises(WebhookRejected) as caught:
        verify(body, headers, store)
    assert caught.value.status == status
    assert words in caught.value.message
    assert store.calls == []


def test_an_unconfigured_key_rejects_and_a_wrong_one_fails_loudly() -> None:
    with pytest.raises(WebhookRejected) as caught:
        verify(BODY, signed_headers(BODY), public_key_b64="")
    assert caught.value.status == 401
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for setting in ["not base64!", base64.b64encode(b"junk").decode(), b64_public(rsa_key)]:
        with pytest.raises(ValueError):
            load_public_key(setting)


def test_a_pem_key_setting_works_too() -> None:
    pem = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert len(verify(BODY, signed_headers(BODY), public_key_b64=pem.decode())) == 7


def one(**event: Any) -> tuple[str, str]:
    body = json.dumps([{"email": "a@example.org", "sg_event_id": "e1", **event}]).encode()
    [result] = verify(body, signed_headers(body))
    return result.kind, result.reason


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            {"event": "bounce", "type": "bounce", "status": "5.1.1", "reason": "user unknown"},
            ("hard", "userunknown"),
        ),
        (
            {
                "event": "bounce",
                "status": "5.0.0",
                "reason": "550 no",
                "bounce_classification": "Invalid Address",
            },
            ("hard", "userunknown"),
        ),
        (
            {
                "event": "bounce",
                "status": "5.0.0",
                "reason": "550 no",
                "bounce_classification": "Technical",
            },
            ("soft", "systemerror"),
        ),
        ({"event": "bounce", "status": "5.0.0", "reason": "550 no"}, ("soft", "undefined")),
        ({"event": "bounce", "status": "5.2.2", "reason": "mailbox full"}, ("soft", "mailboxfull")),
        (
            {"event": "bounce", "type": "blocked", "status": "5.1.1", "reason": "user unknown"},
            ("soft", "userunknown"),
        ),
        ({"event": "dropped", "reason": "Invalid"}, ("hard", "userunknown")),
        ({"event": "dropped", "reason": "Spam Reporting Address"}, ("ignore", "suspend")),
        ({"event": "dropped", "reason": "Unsubscribed Address"}, ("ignore", "suspend")),
        (
            {"event": "dropped", "reason": "Spam Content (if spam checker app enabled)"},
            ("ignore", "spamdetected"),
        ),
        ({"event": "dropped", "reason": "Invalid SMTPAPI header"}, ("ignore", "undefined")),
        ({"event": "deferred", "response": "451 4.7.1 try again later"}, ("ignore", "blocked")),
        ({"event": "spamreport"}, ("complaint", "feedback")),
        ({"event": "click"}, ("ignore", "undefined")),
    ],
)
def test_event_mapping(event: dict[str, Any], expected: tuple[str, str]) -> None:
    assert one(**event) == expected


HEADERS = st.dictionaries(
    st.sampled_from([SIGNATURE_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER.lower(), "Other"])
    | st.text(max_size=10),
    st.text(max_size=120),
    max_size=4,
)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=300), headers=HEADERS)
def test_arbitrary_requests_are_rejected_cleanly(body: bytes, headers: dict[str, str]) -> None:
    store = SpyReplayStore()
    with pytest.raises(WebhookRejected):
        verify(body, headers, store)
    assert store.calls == []


EVENT = st.fixed_dictionaries(
    {},
    optional={
        "event": maybe(st.sampled_from(["bounce", "dropped", "deferred", "spamreport", "open"])),
        "sg_event_id": maybe(st.sampled_from(["e1", "e2"])),
        "email": maybe(st.sampled_from(["a@example.org", "bad"])),
        "timestamp": maybe(st.sampled_from([1772366310, -1e300, "1772366310"])),
        "type": maybe(st.sampled_from(["bounce", "blocked"])),
        "status": maybe(st.sampled_from(["5.1.1", "4.2.2", "5.0.0"])),
        "reason": maybe(st.text(max_size=60)),
        "bounce_classification": maybe(st.sampled_from(["Invalid Address", "Content"])),
        "smtp-id": maybe(st.just("<x@y>")),
    },
)


@settings(max_examples=200, deadline=None)
@given(data=maybe(st.lists(maybe(EVENT), max_size=4)))
def test_signed_arbitrary_events_give_events_or_400(data: Any) -> None:
    body = json.dumps(data).encode()
    store = SpyReplayStore()
    try:
        events = verify(body, signed_headers(body), store)
    except WebhookRejected as rejected:
        assert rejected.status == 400
        assert store.calls == []
        return
    assert {e.event_id for e in events} == {str(item["sg_event_id"]) for item in data}
