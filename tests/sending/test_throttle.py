"""The send-rate token bucket and the connection cap, shared through a real Redis."""

from __future__ import annotations

import threading
import time

import redis

from service.sending.throttle import ConnectionSlots, RateLimiter


def test_rate_is_shared_by_every_limiter(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    limiters = [RateLimiter(20, client, key="test:rate") for _ in range(2)]
    done: list[float] = []

    def take(limiter: RateLimiter) -> None:
        for _ in range(30):
            limiter.acquire()
        done.append(time.monotonic())

    started = time.monotonic()
    threads = [threading.Thread(target=take, args=(limiter,)) for limiter in limiters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = max(done) - started
    # 60 messages at 20/s with a burst of 20: at least two seconds, not far above.
    assert 1.8 <= elapsed <= 4.0, elapsed
    client.close()


def test_without_redis_the_limit_holds_in_process() -> None:
    limiter = RateLimiter(50)
    started = time.monotonic()
    for _ in range(100):
        limiter.acquire()
    assert 0.9 <= time.monotonic() - started <= 2.5


def test_zero_means_no_limit() -> None:
    limiter = RateLimiter(0)
    started = time.monotonic()
    for _ in range(10_000):
        limiter.acquire()
    assert time.monotonic() - started < 0.5


def test_connection_cap(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    first, second, third = (ConnectionSlots(2, client, key="test:slots") for _ in range(3))
    assert first.acquire(timeout=1) and second.acquire(timeout=1)
    assert not third.acquire(timeout=0.5)
    first.release()
    assert third.acquire(timeout=1)
    client.close()
