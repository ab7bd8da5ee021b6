"""Our own webhook format: t=<seconds>,v1=<hex HMAC of "<t>." + body>."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.bounces.webhooks import WebhookRejected, sign_generic, verify_generic
from tests.bounces.webhook_fixtures import SpyReplayStore, load, maybe

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRET = "a-long-shared-secret-for-the-relay"
T = int((NOW - timedelta(seconds=10)).timestamp())
BODY = json.dumps(load("generic_events.json")).encode()


def header(body: bytes, *, secret: str = SECRET, t: int | str = T) -> str:
    """Written from the documented format, not with the code under test."""
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(
    body: bytes, signature: str | None, replay: SpyReplayStore | None = None, **kwargs: Any
) -> list:
    options: dict[str, Any] = {"secret": SECRET, "now": NOW}
    options.update(kwargs)
    return verify_generic(
        body, signature, replay=replay if replay is not None else SpyReplayStore(), **options
    )


def test_the_documented_signature_is_what_sign_generic_makes() -> None:
    assert sign_generic(BODY, SECRET, T) == header(BODY)


def test_a_good_request_is_accepted_once() -> None:
    store = SpyReplayStore()
    events = verify(BODY, header(BODY), store)
    assert [(e.event_id, e.kind, e.reason, e.status, e.recipient) for e in events] == [
        ("relay-1", "hard", "userunknown", "5.1.1", "gone.reader@example.org"),
        ("relay-2", "soft", "mailboxfull", "4.2.2", "full@example.org"),
        ("relay-3", "complaint", "feedback", "", "annoyed@example.org"),
    ]
    first = events[0]
    assert (first.provider, first.message_id) == ("generic", "20260301.issue7.42@news.example.com")
    assert first.occurred_at == datetime.fromtimestamp(1772366310, UTC)
    assert events[2].occurred_at is None
    assert len(store.calls) == 1
    with pytest.raises(WebhookRejected) as caught:
        verify(BODY, header(BODY), store)
    assert (caught.value.status, caught.value.message) == (
        401,
        "webhook request was already received",
    )


def test_a_retry_signed_afresh_is_accepted_and_keeps_its_event_ids() -> None:
    store = SpyReplayStore()
    first = verify(BODY, header(BODY), store)
    again = verify(BODY, header(BODY, t=T + 1), store)
    assert [e.event_id for e in first] == [e.event_id for e in again]


def test_a_single_object_body_is_one_event() -> None:
    body = json.dumps(load("generic_events.json")[0]).encode()
    assert [e.event_id for e in verify(body, header(body))] == ["relay-1"]


def test_any_of_several_v1_signatures_may_match() -> None:
    rotating = f"{header(BODY, secret='old-secret')},v1={header(BODY).rpartition('v1=')[2]}"
    assert len(verify(BODY, rotating)) == 3


STALE = int((NOW - timedelta(minutes=10)).timestamp())
FUTURE = int((NOW + timedelta(minutes=10)).timestamp())
SURROGATE = b'{"id":"1","type":"bounce","email":"a@b.c","diagnostic":"\\ud800"}'
REJECTIONS = {
    "lone surrogate": (SURROGATE, header(SURROGATE), 400, "Unicode"),
    "tampered body": (BODY.replace(b"relay-1", b"relay-9"), header(BODY), 401, "does not match"),
    "wrong secret": (BODY, header(BODY, secret="guess"), 401, "does not match"),
    "stale": (BODY, header(BODY, t=STALE), 401, "too old"),
    "future": (BODY, header(BODY, t=FUTURE), 401, "future"),
    "leading zero changes the signed text": (
        BODY,
        header(BODY).replace(f"t={T}", f"t=0{T}"),
        401,
        "does not match",
    ),
    "no header": (BODY, None, 401, "missing"),
    "empty header": (BODY, "", 401, "missing"),
    "no v1": (BODY, f"t={T}", 400, "t=<seconds>"),
    "no t": (BODY, header(BODY).split(",")[1], 400, "t=<seconds>"),
    "garbage header": (BODY, "sha256=abc", 400, "t=<seconds>"),
    "non-ASCII signature": (BODY, f"t={T},v1=é", 401, "does not match"),
    "not JSON": (b"nope", header(b"nope"), 400, "JSON"),
    "unknown type": (
        b'{"id":"1","type":"open","email":"a@b.c"}',
        header(b'{"id":"1","type":"open","email":"a@b.c"}'),
        400,
        "type",
    ),
    "no id": (
        b'{"type":"bounce","email":"a@b.c"}',
        header(b'{"type":"bounce","email":"a@b.c"}'),
        400,
        "id",
    ),
    "bad status": (
        b'{"id":"1","type":"bounce","email":"a@b.c","status":"550"}',
        header(b'{"id":"1","type":"bounce","email":"a@b.c","status":"550"}'),
        400,
        "status",
    ),
    "bad email": (
        b'{"id":"1","type":"bounce","email":"nobody"}',
        header(b'{"id":"1","type":"bounce","email":"nobody"}'),
        400,
        "recipient",
    ),
}


@pytest.mark.parametrize("case", REJECTIONS)
def test_rejections_leave_no_trace(case: str) -> None:
    body, signature, status, words = REJECTIONS[case]
    store = SpyReplayStore()
    with pytest.raises(WebhookRejected) as caught:
        verify(body, signature, store)
    assert caught.value.status == status
    assert words in caught.value.message
    assert store.calls == []


def test_an_empty_secret_rejects_everything() -> None:
    with pytest.raises(WebhookRejected) as caught:
        verify(BODY, header(BODY, secret=""), secret="")
    assert caught.value.status == 401


def one(event: dict[str, Any]) -> tuple[str, str]:
    body = json.dumps({"id": "x", "type": "bounce", "email": "a@example.org", **event}).encode()
    [result] = verify(body, header(body))
    return result.kind, result.reason


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"status": "5.1.1"}, ("hard", "userunknown")),
        ({"status": "4.1.1"}, ("soft", "userunknown")),
        ({"status": "5.1.2"}, ("hard", "hostunknown")),
        ({"status": "5.1.6"}, ("hard", "hasmoved")),
        ({"status": "5.1.10"}, ("hard", "notaccept")),
        ({"status": "5.2.2"}, ("soft", "mailboxfull")),
        ({"status": "5.7.1"}, ("soft", "blocked")),
        ({"diagnostic": "550 sorry, user unknown"}, ("hard", "userunknown")),
        ({"diagnostic": "450 sorry, user unknown, try later"}, ("soft", "userunknown")),
        ({}, ("soft", "undefined")),
        ({"type": "complaint", "status": "5.1.1"}, ("complaint", "feedback")),
    ],
)
def test_event_mapping(event: dict[str, Any], expected: tuple[str, str]) -> None:
    assert one(event) == expected


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=300), signature=st.text(max_size=100) | st.none())
def test_arbitrary_requests_are_rejected_cleanly(body: bytes, signature: str | None) -> None:
    store = SpyReplayStore()
    with pytest.raises(WebhookRejected):
        verify(body, signature, store)
    assert store.calls == []


EVENT = st.fixed_dictionaries(
    {},
    optional={
        "id": maybe(st.sampled_from(["a", "b", "x" * 201])),
        "type": maybe(st.sampled_from(["bounce", "complaint"])),
        "email": maybe(st.sampled_from(["a@example.org", "bad"])),
        "status": maybe(st.sampled_from(["5.1.1", "4.2.2", "9.9.9", ""])),
        "diagnostic": maybe(st.text(max_size=60)),
        "message_id": maybe(st.just("<m@x>")),
        "timestamp": maybe(st.sampled_from([1772366310, 1e300, -5, "1772366310"])),
    },
)


@settings(max_examples=200, deadline=None)
@given(data=maybe(EVENT) | st.lists(maybe(EVENT), max_size=3))
def test_signed_arbitrary_events_give_events_or_400(data: Any) -> None:
    body = json.dumps(data).encode()
    store = SpyReplayStore()
    try:
        events = verify(body, header(body), store)
    except WebhookRejected as rejected:
        assert rejected.status == 400
        assert store.calls == []
        return
    items = data if isinstance(data, list) else [data]
    assert {e.event_id for e in events} == {str(item["id"]) for item in items}
