"""The progress figures: counts, the rate from the deliveries' times, the ETA, and the
per-process cache that keeps the polling endpoint cheap."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import update

from service.admin.send_progress import ProgressCache, read_progress
from service.db import utcnow
from service.sending.models import Delivery, Send
from service.sending.sends import SendError
from service.sending.states import DeliveryStatus as DS
from tests.sending.conftest import fill_list, start

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _age(app, send_id: int, started_ago: float, sent: int, sent_ago: float) -> None:  # type: ignore[no-untyped-def]
    """The send started ``started_ago`` seconds ago; ``sent`` rows went ``sent_ago`` ago."""
    now = utcnow()
    with app.extensions["db"].session() as session:
        session.execute(update(Send).values(started_at=now - dt.timedelta(seconds=started_ago)))
        ids = session.scalars(Delivery.__table__.select().with_only_columns(Delivery.id)
                              .order_by(Delivery.id).limit(sent)).all()
        session.execute(update(Delivery).where(Delivery.id.in_(ids)).values(
            status=DS.SENT, sent_at=now - dt.timedelta(seconds=sent_ago)))


def test_the_rate_is_the_last_minutes_and_the_eta_follows(app) -> None:  # type: ignore[no-untyped-def]
    fill_list(app, 40)
    send_id = start(app, queue=False)
    _age(app, send_id, started_ago=300, sent=10, sent_ago=200)  # long ago: not in the rate
    with app.extensions["db"].session() as session:
        p = read_progress(session, send_id)
    assert (p.count("sent"), p.remaining, p.done, p.rate, p.eta_seconds) == (10, 30, 10, 0.0, None)
    assert p.percent == 25.0 and p.eta_text == "—" and p.poll_every == "1s"
    with app.extensions["db"].session() as session:
        ids = session.scalars(Delivery.__table__.select().with_only_columns(Delivery.id)
                              .where(Delivery.status == DS.QUEUED).limit(12)).all()
        session.execute(update(Delivery).where(Delivery.id.in_(ids))
                        .values(status=DS.SENT, sent_at=utcnow() - dt.timedelta(seconds=5)))
        p = read_progress(session, send_id)
    assert p.rate == pytest.approx(12 / 60, rel=0.05)  # 12 in the last minute
    assert p.eta_seconds == pytest.approx(18 / (12 / 60), rel=0.05) and p.eta_text.endswith(" s")
    with app.extensions["db"].session() as session:
        session.execute(update(Delivery).where(Delivery.status == DS.QUEUED)
                        .values(status=DS.FAILED))
        session.execute(update(Send).values(status="finished",
                                            finished_at=utcnow() - dt.timedelta(seconds=100)))
        p = read_progress(session, send_id)
    # Ended: the average over the send (22 sent in 200 s), no ETA, no more polling.
    assert p.rate == pytest.approx(22 / 200, rel=0.05) and p.eta_seconds is None
    assert p.ended and p.poll_every is None and p.percent == 100.0


def test_the_cache_answers_from_memory_then_refreshes_behind(app) -> None:  # type: ignore[no-untyped-def]
    fill_list(app, 5)
    send_id = start(app, queue=False)
    cache = ProgressCache(app.extensions["db"], ttl=0.2, rate_ttl=0.2, stale=5.0)
    first = cache.get(send_id)
    assert cache.get(send_id) is first  # within the ttl: no query
    with app.extensions["db"].session() as session:
        session.execute(update(Delivery).values(status=DS.SENT, sent_at=utcnow()))
    time.sleep(0.25)
    assert cache.get(send_id) is first  # past due: the old figures, a refresh behind
    deadline = time.monotonic() + 5
    while cache.get(send_id).count("sent") != 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cache.get(send_id).count("sent") == 5
    with app.extensions["db"].session() as session:
        session.execute(update(Send).values(status="paused", status_reason="SMTP 421"))
    cache.forget(send_id)  # what the pause button does: the next look is fresh
    assert cache.get(send_id).status_reason == "SMTP 421"
    with pytest.raises(SendError):
        cache.get(99)
