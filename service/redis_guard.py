"""Redis for what may go without it: a client that fails fast, and a guard that stops asking
for a few seconds after a failure, so an outage costs one short timeout, not one per message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
# Seconds without asking Redis after it failed.
REST_AFTER_FAILURE = 5.0
TIMEOUT_SECONDS = 1.0


def fast_failing_client(url: str) -> Any:
    """A client with short timeouts and no retries of its own: callers have a fallback."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(url, socket_timeout=TIMEOUT_SECONDS,
                                socket_connect_timeout=TIMEOUT_SECONDS,
                                retry=Retry(NoBackoff(), 0))


class RedisGuard:
    def __init__(self, client: Any, what: str, clock: Callable[[], float] = time.monotonic):
        self.client = client
        self.what = what
        self.clock = clock
        self.resting_until = 0.0

    @property
    def available(self) -> bool:
        return self.client is not None and self.clock() >= self.resting_until

    def call(self, action: Callable[[Any], T], fallback: Callable[[], T]) -> T:
        """action(client), or fallback() when Redis is absent, resting, or fails now."""
        if not self.available:
            return fallback()
        try:
            return action(self.client)
        except Exception as exc:  # noqa: BLE001 - any Redis failure means: use the fallback
            log.warning("%s: Redis unavailable (%s); going without it for %.0f s",
                        self.what, exc, REST_AFTER_FAILURE)
            self.resting_until = self.clock() + REST_AFTER_FAILURE
            return fallback()
