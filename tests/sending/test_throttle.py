"""The send-rate token bucket and the connection cap: deterministic, on a fake clock where the
bucket is in-process, and by counting tokens where it lives in a real Redis."""

from __future__ import annotations

import redis

from service.sending.throttle import ConnectionSlots, RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


def test_in_process_the_rate_holds_on_the_clock() -> None:
    clock = FakeClock()
    limiter = RateLimiter(50, clock=clock, sleep=clock.sleep)
    for _ in range(150):
        limiter.acquire()
    # A burst of 50 goes at once; the other 100 take two seconds at 50 a second.
    assert abs(clock.slept - 2.0) < 0.05, clock.slept


def test_zero_means_no_limit() -> None:
    clock = FakeClock()
    limiter = RateLimiter(0, clock=clock, sleep=clock.sleep)
    for _ in range(10_000):
        limiter.acquire()
    assert clock.slept == 0


def test_the_redis_bucket_is_shared_and_refills_on_the_server_clock(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.delete("test:rate")
    limiters = [RateLimiter(20, client, key="test:rate") for _ in range(2)]
    granted = 0
    # Take tokens from both as fast as possible: together they get the burst (20), plus the
    # little that refills while the loop runs, then both are told to wait.
    waits = []
    for _ in range(10):
        for limiter in limiters:
            wait = limiter._take_tokens()
            if wait == 0:
                granted += limiter.take
            else:
                waits.append(wait)
    assert 20 <= granted <= 30, granted
    assert waits and all(0 < w <= limiter.take / 20 for w in waits)
    client.close()


def test_without_redis_answering_the_limit_falls_back_to_the_process() -> None:
    from service.redis_guard import fast_failing_client

    dead = fast_failing_client("redis://127.0.0.1:1/0")
    clock = FakeClock()
    limiter = RateLimiter(50, dead, clock=clock, sleep=clock.sleep)
    for _ in range(100):
        limiter.acquire()
    assert abs(clock.slept - 1.0) < 0.05, clock.slept


def test_connection_cap(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.delete("test:slots")
    first, second, third = (ConnectionSlots(2, client, key="test:slots") for _ in range(3))
    assert first.acquire(timeout=1) and second.acquire(timeout=1)
    assert not third.acquire(timeout=0.5)
    first.release()
    assert third.acquire(timeout=1)
    client.close()
