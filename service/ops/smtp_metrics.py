"""SMTP replies by class and their latency, as the sending workers see them, kept in Redis.

Only a worker sees an SMTP reply, and workers run on other machines than the web app that
serves ``/metrics``. Each worker process counts in memory (a dict increment per message) and
adds its counts to one Redis hash every ``PUSH_SECONDS`` while it sends and at the end of each
batch, in one pipelined round trip; ``/metrics`` reads the hash. So
the numbers are cluster-wide totals whatever the number of workers and machines, they survive
a worker's restart, and the send path pays no network round trip per message. Without Redis
(the embedded mode) the counts stay in the process. While Redis is down they are kept and
added on a later push.
"""

from __future__ import annotations

import bisect
import time
from typing import Any

from service.mail.transport import Reply
from service.redis_guard import RedisGuard

KEY = "newsletter:metrics:smtp"
CLASSES = ("2xx", "4xx", "5xx", "connection_error")
# Seconds; from a local relay (a millisecond) to a slow remote server.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Seconds between pushes while sending: fresh enough for a scrape every 15 s or more, and one
# round trip (about a millisecond) per 5 s costs nothing measurable, where one per flush of 50
# messages cost 20 us a message.
PUSH_SECONDS = 5.0


def reply_class(reply: Reply) -> str:
    if 200 <= reply.code < 300:
        return "2xx"
    if 400 <= reply.code < 500:
        return "4xx"
    if 500 <= reply.code < 600:
        return "5xx"
    return "connection_error"  # no reply: refused, dropped, timed out


class SmtpMetrics:
    """One per worker process (the Sender holds it)."""

    def __init__(self, redis_client: Any = None, clock: Any = time.monotonic) -> None:
        self.guard = RedisGuard(redis_client, "SMTP metrics")
        self.clock = clock
        self.replies = dict.fromkeys(CLASSES, 0)
        self.buckets = [0] * (len(BUCKETS) + 1)  # the last one is +Inf
        self.seconds = 0.0
        self.pending = 0
        self.last_push = clock()

    def observe(self, reply: Reply, seconds: float) -> None:
        self.replies[reply_class(reply)] += 1
        self.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.seconds += seconds
        self.pending += 1
        if self.clock() - self.last_push >= PUSH_SECONDS:
            self.push()

    def push(self) -> None:
        """Add the counts gathered since the last push to Redis; keep them if it fails."""
        self.last_push = self.clock()
        if not self.pending or self.guard.client is None:
            return
        fields: dict[str, int] = {f"reply:{name}": n for name, n in self.replies.items() if n}
        fields.update({f"bucket:{i}": n for i, n in enumerate(self.buckets) if n})
        seconds = self.seconds

        def add(client: Any) -> bool:
            pipe = client.pipeline(transaction=False)
            for name, count in fields.items():
                pipe.hincrby(KEY, name, count)
            pipe.hincrbyfloat(KEY, "seconds", seconds)
            pipe.execute()
            return True

        if self.guard.call(add, lambda: False):
            self.replies = dict.fromkeys(CLASSES, 0)
            self.buckets = [0] * (len(BUCKETS) + 1)
            self.seconds = 0.0
            self.pending = 0


def read_totals(redis_client: Any) -> dict[str, float]:
    """The cluster-wide totals (``/metrics``): field → value, missing fields as 0."""
    raw = redis_client.hgetall(KEY)
    return {key.decode() if isinstance(key, bytes) else key: float(value)
            for key, value in raw.items()}
