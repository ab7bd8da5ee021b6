"""Shared webhook pieces: replay stores, untrusted-input helpers, and reason mapping."""

from __future__ import annotations

import os
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from service.bounces.webhooks import MemoryReplayStore, ProviderEvent, RedisReplayStore
from service.bounces.webhooks.common import (
    WebhookRejected,
    bounce_kind,
    check_fresh,
    classify,
    load_json,
    recipient,
    replay_ttl,
    same_secret,
    unix_time,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_memory_store_reports_a_key_seen_within_its_ttl() -> None:
    clock = FakeClock()
    store = MemoryReplayStore(clock=clock)
    assert store.seen("a", 60) is False
    assert store.seen("a", 60) is True
    assert store.seen("b", 60) is False
    clock.now += 61
    assert store.seen("a", 60) is False  # expired, so recorded afresh
    assert store.seen("a", 60) is True


def test_memory_store_purges_only_expired_keys() -> None:
    clock = FakeClock()
    store = MemoryReplayStore(clock=clock, purge_at=3)
    store.seen("old-1", 10)
    store.seen("old-2", 10)
    store.seen("live", 100)
    clock.now += 50
    store.seen("new", 100)  # the fourth key triggers a purge of the two expired ones
    assert len(store) == 2
    assert store.seen("live", 100) is True


def test_memory_store_lets_exactly_one_of_many_threads_through() -> None:
    store = MemoryReplayStore()
    results: list[bool] = []
    barrier = threading.Barrier(16)

    def attempt() -> None:
        barrier.wait()
        results.append(store.seen("same", 60))

    threads = [threading.Thread(target=attempt) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] + [True] * 15


class FakeRedis:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object, bool, int]] = []
        self.keys: set[str] = set()

    def set(self, key: str, value: object, *, nx: bool, ex: int) -> bool | None:
        self.calls.append((key, value, nx, ex))
        if key in self.keys:
            return None
        self.keys.add(key)
        return True


def test_redis_store_uses_set_nx_ex_under_its_prefix() -> None:
    client = FakeRedis()
    store = RedisReplayStore(client, prefix="p:")
    assert store.seen("k", 600) is False
    assert store.seen("k", 600) is True
    assert client.calls == [("p:k", 1, True, 600), ("p:k", 1, True, 600)]


@pytest.fixture
def redis_client():  # type: ignore[no-untyped-def]
    import redis

    from tests.conftest import _service_missing

    url = os.environ.get("NEWSLETTER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        _service_missing("Redis", exc)
    yield client
    client.close()


def test_redis_store_against_real_redis(redis_client) -> None:  # type: ignore[no-untyped-def]
    prefix = f"test-webhook-replay-{uuid.uuid4().hex}:"
    store = RedisReplayStore(redis_client, prefix=prefix)
    try:
        assert store.seen("k", 30) is False
        assert store.seen("k", 30) is True
        assert 0 < redis_client.ttl(prefix + "k") <= 30
    finally:
        redis_client.delete(prefix + "k")


def test_replay_ttl_covers_the_whole_acceptance_window() -> None:
    # Fresh from max_age before now until the allowed clock skew after it: 5 + 5 minutes.
    assert replay_ttl(timedelta(minutes=5)) >= 600


@pytest.mark.parametrize(
    ("sent_at", "ok"),
    [
        (NOW - timedelta(minutes=4), True),
        (NOW - timedelta(minutes=6), False),
        (NOW + timedelta(minutes=4), True),
        (NOW + timedelta(minutes=6), False),
    ],
)
def test_freshness(sent_at: datetime, ok: bool) -> None:
    if ok:
        check_fresh(sent_at, NOW, timedelta(minutes=5))
    else:
        with pytest.raises(WebhookRejected) as caught:
            check_fresh(sent_at, NOW, timedelta(minutes=5))
        assert caught.value.status == 401


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"\xff\xfe\xfd", b"[" * 100_000, b'{"a": NaN}', b'{"a": Infinity}', b"1" * 5000],
)
def test_load_json_rejects_with_400(body: bytes) -> None:
    with pytest.raises(WebhookRejected) as caught:
        load_json(body)
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Reader@Example.ORG", "reader@example.org"),
        ("  reader@example.org ", "reader@example.org"),
        ("Reader <Reader@Example.org>", "reader@example.org"),
    ],
)
def test_recipient_is_normalised(given: str, expected: str) -> None:
    assert recipient(given, "test") == expected


@pytest.mark.parametrize(
    "given", [None, 5, "", "no-at-sign", "@example.org", "a b@example.org", "x@\ud800", "a\n@b"]
)
def test_recipient_rejects_non_addresses(given: object) -> None:
    with pytest.raises(WebhookRejected) as caught:
        recipient(given, "test")
    assert caught.value.status == 400


@pytest.mark.parametrize("value", [True, None, "12a", 1e300, float("nan"), "9" * 13, [], 10**20])
def test_unix_time_rejects_with_400(value: object) -> None:
    with pytest.raises(WebhookRejected) as caught:
        unix_time(value, "test")
    assert caught.value.status == 400


def test_unix_time_reads_numbers_and_digit_strings() -> None:
    assert unix_time("1772366400", "t") == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert unix_time(1772366400.5, "t") == datetime(2026, 3, 1, 12, 0, 0, 500000, tzinfo=UTC)


def test_same_secret_never_raises_on_odd_text() -> None:
    assert same_secret("é\ud800", "abc") is False
    assert same_secret("é", "é") is True


@pytest.mark.parametrize(
    ("status", "diagnostic", "reason", "code"),
    [
        ("5.1.1", "smtp; 550 5.1.1 user unknown", "userunknown", "5.1.1"),
        # A catch-all status loses to the precise code in the text.
        (
            "5.0.0",
            "550 5.1.1 The email account that you tried to reach does not exist",
            "userunknown",
            "5.1.1",
        ),
        ("", "550 5.1.2 bad destination system address", "hostunknown", "5.1.2"),
        ("", "550 5.1.6 mailbox has moved", "hasmoved", "5.1.6"),
        ("", "550 5.1.10 null MX", "notaccept", "5.1.10"),
        (
            "",
            "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found",
            "userunknown",
            "5.1.10",
        ),
        (
            "",
            "452 4.2.2 The email account that you tried to reach is over quota",
            "mailboxfull",
            "4.2.2",
        ),
        ("", "552 5.3.4 message size exceeds fixed limit", "mesgtoobig", "5.3.4"),
        ("", "550 5.2.1 The email account that you tried to reach is disabled", "suspend", "5.2.1"),
        (
            "",
            "554 5.7.1 Client host [192.0.2.1] blocked using zen.spamhaus.org",
            "blocked",
            "5.7.1",
        ),
        ("", "550 5.7.1 Message rejected as spam", "spamdetected", "5.7.1"),
        ("", "550 5.7.1 Delivery not authorized", "blocked", "5.7.1"),
        (
            "",
            "550 5.7.26 Unauthenticated email is not accepted due to DMARC policy",
            "authfailure",
            "5.7.26",
        ),
        ("", "550 Requested action not taken: mailbox unavailable", "undefined", ""),
        ("", "Domain example.invalid does not exist", "hostunknown", ""),
        ("", "connection timed out to 192.0.2.1", "networkerror", ""),
        ("", "retry timeout exceeded", "expired", ""),
        ("", "I am out of the office until Monday", "vacation", ""),
    ],
)
def test_classify(status: str, diagnostic: str, reason: str, code: str) -> None:
    diagnosis = classify(status, diagnostic)
    assert (diagnosis.reason, diagnosis.status) == (reason, code)


def test_classify_falls_back_to_the_providers_category() -> None:
    assert classify("", "550 nope", default="blocked").reason == "blocked"


@pytest.mark.parametrize(
    ("status", "diagnostic", "permanent", "kind"),
    [
        ("5.1.1", "", None, "hard"),
        ("5.1.1", "", True, "hard"),
        ("5.1.1", "", False, "soft"),  # the provider called it temporary
        ("4.1.1", "", None, "soft"),  # the server called it temporary
        ("", "451 user unknown, try later", None, "soft"),
        ("5.2.2", "", True, "soft"),  # a full mailbox is never hard
        ("", "550 5.7.1 blocked", True, "soft"),
    ],
)
def test_bounce_kind(status: str, diagnostic: str, permanent: bool | None, kind: str) -> None:
    assert bounce_kind(classify(status, diagnostic), permanent=permanent) == kind


def test_event_refuses_words_outside_the_vocabulary() -> None:
    args = ("x", "id", "hard", "userunknown", "a@b.c", "", "", "", None, {})
    assert ProviderEvent(*args).kind == "hard"
    with pytest.raises(ValueError):
        ProviderEvent(*args[:2], "bounced", *args[3:])
    with pytest.raises(ValueError):
        ProviderEvent(*args[:3], "nosuchuser", *args[4:])
