"""Mailgun webhooks: HMAC over timestamp and token, freshness, replays, event mapping."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.bounces.webhooks import WebhookRejected, verify_mailgun
from tests.bounces.webhook_fixtures import JSON, SpyReplayStore, load, maybe

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
TOKEN = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"


def signed(
    event: dict[str, Any], *, key: str = KEY, timestamp: int | None = None, token: str = TOKEN
) -> bytes:
    stamp = str(int((NOW - timedelta(seconds=30)).timestamp()) if timestamp is None else timestamp)
    mac = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps(
        {"signature": {"timestamp": stamp, "token": token, "signature": mac}, "event-data": event}
    ).encode()


def verify(body: bytes, replay: SpyReplayStore | None = None, **kwargs: Any) -> list:
    options: dict[str, Any] = {"signing_key": KEY, "now": NOW}
    options.update(kwargs)
    return verify_mailgun(
        body, replay=replay if replay is not None else SpyReplayStore(), **options
    )


def test_a_good_request_is_accepted_once() -> None:
    store = SpyReplayStore()
    [event] = verify(signed(load("mailgun_failed.json")), store)
    assert (event.provider, event.event_id, event.kind, event.reason) == (
        "mailgun",
        "G9Bn5sl1TC6nu79C8C0bwg",
        "hard",
        "userunknown",
    )
    assert (event.recipient, event.status) == ("gone.reader@example.org", "5.1.1")
    assert event.message_id == "20260301.issue7.42@news.example.com"
    assert event.diagnostic == "5.1.1 The email account that you tried to reach does not exist."
    assert event.occurred_at == datetime(2026, 3, 1, 11, 58, 30, 182415, tzinfo=UTC)
    assert len(store.calls) == 1 and store.calls[0][1] >= 600
    with pytest.raises(WebhookRejected) as caught:
        verify(signed(load("mailgun_failed.json")), store)
    assert (caught.value.status, caught.value.message) == (
        401,
        "Mailgun webhook was already received",
    )


def test_a_signature_is_single_use_because_it_does_not_cover_the_event() -> None:
    """Mailgun signs timestamp and token only: whoever holds a fresh signature could attach
    any event-data to it. Keying replays on the signed text makes the signature single-use,
    whatever event it comes with."""
    store = SpyReplayStore()
    verify(signed(load("mailgun_failed.json")), store)
    other = json.loads(signed(load("mailgun_failed.json")))
    other["event-data"]["recipient"] = "victim@example.org"
    with pytest.raises(WebhookRejected) as caught:
        verify(json.dumps(other).encode(), store)
    assert caught.value.status == 401


def test_a_new_token_is_not_a_replay() -> None:
    store = SpyReplayStore()
    verify(signed(load("mailgun_failed.json")), store)
    assert len(verify(signed(load("mailgun_failed.json"), token="b" * 50), store)) == 1


def with_signature(value: Any) -> bytes:
    data = json.loads(signed(load("mailgun_failed.json")))
    data["signature"]["signature"] = value
    return json.dumps(data).encode()


STALE = int((NOW - timedelta(minutes=10)).timestamp())
FUTURE = int((NOW + timedelta(minutes=10)).timestamp())
REJECTIONS = {
    "wrong key": (lambda: signed(load("mailgun_failed.json"), key="other"), 401, "does not match"),
    "upper-case hex": (
        lambda: with_signature(
            json.loads(signed(load("mailgun_failed.json")))["signature"]["signature"].upper()
        ),
        401,
        "does not match",
    ),
    "non-ASCII signature": (lambda: with_signature("é" * 64), 401, "does not match"),
    "signature not a string": (lambda: with_signature(["x"]), 400, "string"),
    "stale timestamp": (
        lambda: signed(load("mailgun_failed.json"), timestamp=STALE),
        401,
        "too old",
    ),
    "future timestamp": (
        lambda: signed(load("mailgun_failed.json"), timestamp=FUTURE),
        401,
        "future",
    ),
    "no signature": (
        lambda: json.dumps({"event-data": load("mailgun_failed.json")}).encode(),
        400,
        "signature",
    ),
    "not JSON": (lambda: b"signature=abc&token=def", 400, "JSON"),
    "no event-data": (lambda: signed(None), 400, "event-data"),  # type: ignore[arg-type]
    "no recipient": (
        lambda: signed({**load("mailgun_failed.json"), "recipient": None}),
        400,
        "recipient",
    ),
    "no id": (lambda: signed({**load("mailgun_failed.json"), "id": ""}), 400, "id"),
}


@pytest.mark.parametrize("case", REJECTIONS)
def test_rejections_leave_no_trace(case: str) -> None:
    make, status, words = REJECTIONS[case]
    store = SpyReplayStore()
    with pytest.raises(WebhookRejected) as caught:
        verify(make(), store)
    assert caught.value.status == status
    assert words in caught.value.message
    assert store.calls == []


def test_an_empty_signing_key_rejects_everything() -> None:
    body = signed(load("mailgun_failed.json"), key="")
    with pytest.raises(WebhookRejected) as caught:
        verify(body, signing_key="")
    assert caught.value.status == 401


def event(**changes: Any) -> dict[str, Any]:
    data = load("mailgun_failed.json")
    delivery = changes.pop("delivery", None)
    if delivery is not None:
        data["delivery-status"] = delivery
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (event(), ("hard", "userunknown")),
        (event(severity="temporary"), ("ignore", "userunknown")),
        (
            event(
                reason="suppress-bounce",
                delivery={
                    "code": 605,
                    "description": "Not delivering to previously bounced address",
                },
            ),
            ("ignore", "suspend"),
        ),
        (event(reason="suppress-complaint"), ("ignore", "suspend")),
        (event(reason="old", delivery={"code": 421, "message": "try later"}), ("soft", "expired")),
        (
            event(delivery={"code": 552, "enhanced-code": "5.2.2", "message": "mailbox full"}),
            ("soft", "mailboxfull"),
        ),
        (
            event(delivery={"code": 550, "message": "5.7.1 rejected: listed at zen.spamhaus.org"}),
            ("soft", "blocked"),
        ),
        (
            event(delivery={"code": 550, "message": "Requested action not taken"}),
            ("soft", "undefined"),
        ),
        (event(delivery={}), ("soft", "undefined")),
        (event(event="complained"), ("complaint", "feedback")),
        (event(event="delivered"), ("ignore", "delivered")),
        (event(event="opened"), ("ignore", "undefined")),
    ],
)
def test_event_mapping(data: dict[str, Any], expected: tuple[str, str]) -> None:
    [result] = verify(signed(data))
    assert (result.kind, result.reason) == expected


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=300) | JSON.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_bodies_are_rejected_cleanly(body: bytes) -> None:
    store = SpyReplayStore()
    with pytest.raises(WebhookRejected):
        verify(body, store)
    assert store.calls == []


EVENT_DATA = st.fixed_dictionaries(
    {},
    optional={
        "event": maybe(st.sampled_from(["failed", "complained", "delivered", "opened"])),
        "id": maybe(st.just("evt-1")),
        "recipient": maybe(st.sampled_from(["a@example.org", "bad"])),
        "timestamp": maybe(st.sampled_from([1772366310.18, 1e300, "1772366310"])),
        "severity": maybe(st.sampled_from(["permanent", "temporary"])),
        "reason": maybe(st.sampled_from(["bounce", "suppress-bounce", "old", "generic"])),
        "delivery-status": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "code": maybe(st.sampled_from([550, 605, "452"])),
                    "enhanced-code": maybe(st.sampled_from(["5.1.1", "4.2.2", ""])),
                    "message": maybe(st.text(max_size=60)),
                    "description": maybe(st.text(max_size=60)),
                },
            )
        ),
        "message": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "headers": maybe(st.fixed_dictionaries({"message-id": maybe(st.just("<x@y>"))}))
                },
            )
        ),
    },
)


@settings(max_examples=200, deadline=None)
@given(data=maybe(EVENT_DATA))
def test_signed_arbitrary_event_data_gives_an_event_or_400(data: Any) -> None:
    store = SpyReplayStore()
    try:
        events = verify(signed(data), store)
    except WebhookRejected as rejected:
        assert rejected.status == 400
        assert store.calls == []
        return
    assert [e.event_id for e in events] == [str(data["id"])]
