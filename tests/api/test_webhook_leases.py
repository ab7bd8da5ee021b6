"""Two deliverers and a receiver that hangs: every delivery is POSTed exactly once.

A round used to lease a whole batch at once and then post it row after row; behind a receiver
that hangs until the timeout, the rows late in the batch ran out of lease while they waited,
a second deliverer claimed and posted them, and the first one posted them as well when it
reached them. Each row is now leased just before its own POST."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from service.webhooks import delivery
from service.webhooks.endpoints import create_endpoint
from service.webhooks.models import WebhookDelivery
from service.webhooks.outbox import record_event
from tests.api.conftest import POSTGRES_ONLY
from tests.api.receiver import Receiver

TIMEOUT = 0.3  # what each POST to the slow receiver takes: it answers only after HANG
HANG = 0.6
LEASE = dt.timedelta(seconds=1)  # a short lease: about three slow POSTs
EVENTS = 6


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(hang_seconds=HANG, slow_paths={"/slow"}).start()
    yield server
    server.stop()


@POSTGRES_ONLY
def test_a_hanging_receiver_and_two_deliverers_post_each_delivery_once(app, receiver) -> None:  # type: ignore[no-untyped-def]
    db = app.extensions["db"]
    with db.session() as session:
        for path in ("/slow", "/fast"):  # the fast endpoint's rows wait behind the slow ones
            create_endpoint(session, receiver.url(path), ["bounce"], allow_private=True)
    with db.session() as session:
        for n in range(EVENTS):
            record_event(session, "bounce", {"n": n})
    rounds: list[delivery.Round] = []

    def deliver() -> None:
        rounds.append(delivery.deliver_due(db, timeout=TIMEOUT, lease=LEASE, allow_private=True))

    started = time.monotonic()
    first = threading.Thread(target=deliver)
    first.start()
    time.sleep(LEASE.total_seconds() + 0.1)  # the sweep wakes a second deliverer meanwhile
    second = threading.Thread(target=deliver)
    second.start()
    first.join(10)
    second.join(10)

    with db.session() as session:
        rows = list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))
    posts = Counter(int(r.headers["x-newsletter-delivery"]) for r in receiver.received)
    assert len(rows) == 2 * EVENTS
    assert posts == {row.id: 1 for row in rows}  # every delivery, and none twice
    assert sum(r.attempted for r in rounds) == len(rows) and len(rounds) == 2
    assert all(r.attempted for r in rounds)  # the second deliverer took a share
    assert [len(row.attempt_log) for row in rows] == [1] * len(rows)
    fast = [row for row in rows if row.status == "delivered"]
    assert len(fast) == EVENTS  # none of the fast endpoint's rows was lost or posted twice
    assert {row.status for row in rows} == {"delivered", "pending"}  # the slow ones: retry
    assert time.monotonic() - started < 5
