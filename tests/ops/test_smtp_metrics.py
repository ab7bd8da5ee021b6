"""The workers' SMTP counters: no Redis round trip per message, pushed every few seconds and
at a batch's end, and kept while Redis is down."""

from __future__ import annotations

import redis

from service.mail.transport import Outcome, Reply, Stage
from service.ops.smtp_metrics import KEY, SmtpMetrics, read_totals, reply_class
from tests.smtp_sink import free_port

OK = Reply(Outcome.SENT, 250, "ok")


def test_replies_are_classed_by_code() -> None:
    assert reply_class(OK) == "2xx"
    assert reply_class(Reply(Outcome.DEFERRED, 451, "later", Stage.RCPT)) == "4xx"
    assert reply_class(Reply(Outcome.SERVER, 421, "closing", Stage.MESSAGE)) == "4xx"
    assert reply_class(Reply(Outcome.FAILED, 550, "no such user", Stage.RCPT)) == "5xx"
    assert reply_class(Reply(Outcome.SERVER, 0, "connection refused", Stage.CONNECT)) == "connection_error"


def test_counts_go_to_redis_every_few_seconds_and_survive_an_outage(redis_url) -> None:  # type: ignore[no-untyped-def]
    client = redis.Redis.from_url(redis_url)
    now = [0.0]
    metrics = SmtpMetrics(client, clock=lambda: now[0])
    for _ in range(200):
        metrics.observe(OK, 0.003)
    assert not client.exists(KEY)  # 200 messages, not one round trip yet
    now[0] = 5.0
    metrics.observe(Reply(Outcome.FAILED, 550, "no", Stage.RCPT), 0.2)
    totals = read_totals(client)
    assert totals["reply:2xx"] == 200 and totals["reply:5xx"] == 1
    assert totals["bucket:2"] == 200 and abs(totals["seconds"] - 0.8) < 1e-6  # 3 ms: le=0.005

    dead = redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    metrics.guard.client = dead
    metrics.observe(OK, 0.003)
    now[0] = 10.0
    metrics.push()  # fails: the counts stay
    assert metrics.pending == 1
    metrics.guard.client, metrics.guard.resting_until = client, 0.0
    metrics.push()
    assert read_totals(client)["reply:2xx"] == 201 and metrics.pending == 0
