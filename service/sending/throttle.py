"""Limits shared by every worker through Redis: a token bucket for messages per second, and a
cap on open SMTP connections.

The bucket runs on the Redis server's clock (TIME), so workers on machines whose clocks
disagree still share one rate. Without Redis (embedded mode), or while Redis cannot be
reached, the rate is enforced per process only: N processes may send N times the rate.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from service.redis_guard import RedisGuard

# Takes `want` tokens from a bucket refilled at `rate` per second up to `burst`; answers the
# seconds to wait before the tokens may be taken (0 when they were taken now).
TOKEN_BUCKET = """
local key, rate, burst, want = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', key, 'tokens', 'at')
local tokens, at = tonumber(state[1]) or burst, tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - at) * rate)
local wait = 0
if tokens >= want then tokens = tokens - want else wait = (want - tokens) / rate end
if wait == 0 then
  redis.call('HSET', key, 'tokens', tokens, 'at', now)
  redis.call('EXPIRE', key, math.ceil(burst / rate) + 10)
end
return tostring(wait)
"""
# How many tokens a worker takes at once: fewer Redis round trips, a little burstiness.
TOKENS_PER_TAKE = 10


class RateLimiter:
    """At most ``rate`` messages a second across all workers (0: no limit)."""

    def __init__(self, rate: float, redis_client: Any = None, key: str = "newsletter:send-rate",
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate = rate
        self.clock, self.sleep = clock, sleep
        self.redis = redis_client
        self.key = key
        self.take = max(1, min(TOKENS_PER_TAKE, int(rate) or 1))
        self.burst = max(float(self.take), rate)
        self._banked = 0
        self._lock = threading.Lock()
        self._local = {"tokens": self.burst, "at": clock()}
        self._script = redis_client.register_script(TOKEN_BUCKET) if redis_client else None
        self._guard = RedisGuard(redis_client, "send rate limit")

    def acquire(self) -> None:
        if self.rate <= 0:
            return
        with self._lock:
            while self._banked == 0:
                wait = self._take_tokens()
                if wait > 0:
                    self.sleep(min(wait, 1.0))
                else:
                    self._banked = self.take
            self._banked -= 1

    def _take_tokens(self) -> float:
        # Without Redis the limit holds for this process alone.
        return self._guard.call(
            lambda _: float(self._script(keys=[self.key], args=[self.rate, self.burst, self.take])),
            lambda: self._take_local(self.clock()),
        )

    def _take_local(self, now: float) -> float:
        local = self._local
        local["tokens"] = min(self.burst, local["tokens"] + (now - local["at"]) * self.rate)
        local["at"] = now
        if local["tokens"] >= self.take - 1e-9:  # float rounding must not starve the loop
            local["tokens"] -= self.take
            return 0.0
        return (self.take - local["tokens"]) / self.rate


class ConnectionSlots:
    """At most ``cap`` SMTP connections open at once across workers (0: no cap).

    Holders are kept in a Redis sorted set by the time they last confirmed; a worker that
    died without letting go loses its slot after ``stale_seconds``.
    """

    def __init__(self, cap: int, redis_client: Any = None, key: str = "newsletter:smtp-slots",
                 stale_seconds: float = 600.0) -> None:
        self.cap = cap
        self.redis = redis_client
        self.key = key
        self.stale = stale_seconds
        self.holder = uuid.uuid4().hex
        self.held = False
        self._guard = RedisGuard(redis_client, "SMTP connection cap")

    def acquire(self, timeout: float = 300.0) -> bool:
        if self.cap <= 0 or self.redis is None or self.held:
            self.held = True
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rank = self._guard.call(self._enter, lambda: 0)
            if rank is not None and rank < self.cap:
                self.held = True
                return True
            self._guard.call(lambda client: client.zrem(self.key, self.holder), lambda: None)
            time.sleep(0.2)
        return False

    def _enter(self, client: Any) -> int | None:
        now = time.time()
        pipe = client.pipeline()
        pipe.zremrangebyscore(self.key, 0, now - self.stale)
        pipe.zadd(self.key, {self.holder: now})
        pipe.zrank(self.key, self.holder)
        return pipe.execute()[2]

    def refresh(self) -> None:
        """Confirm the slot is still in use, so a long batch does not lose it as stale."""
        if self.held and self.cap > 0 and self.redis is not None:
            self._guard.call(lambda client: client.zadd(self.key, {self.holder: time.time()}),
                             lambda: None)

    def release(self) -> None:
        if self.held and self.cap > 0 and self.redis is not None:
            # Should Redis be away, the slot goes stale and is reclaimed after stale_seconds.
            self._guard.call(lambda client: client.zrem(self.key, self.holder), lambda: None)
        self.held = False
