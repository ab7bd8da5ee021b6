"""Sends through real Celery workers, Redis, PostgreSQL/SQLite and an SMTP sink."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from sqlalchemy import func, select

from service.sending.models import Delivery
from service.subscribers.services import find_subscriber
from tests.sending.conftest import fill_list, start, wait_for_status


def _unsubscribe_token(app, address: str, list_id: int) -> str:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        subscriber = find_subscriber(session, address)
        return app.extensions["subscribers"].links.unsubscribe_url(
            subscriber.id, subscriber.email_key, list_id
        )


def test_each_of_1000_subscribers_gets_exactly_one_copy(send_app, workers, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    list_id = fill_list(send_app, 1000)
    workers.start_worker(concurrency=2)
    send_id = start(send_app)
    assert wait_for_status(send_app, send_id, ("finished",), timeout=120) == "finished"
    received = smtp_sink.received
    recipients = Counter(r.rcpt_tos[0] for r in received)
    assert len(recipients) == 1000 and set(recipients.values()) == {1}
    for r in received[:: 97]:  # a sample, read closely
        address = r.rcpt_tos[0]
        message = r.message()
        expected = _unsubscribe_token(send_app, address, list_id)
        assert message["List-Unsubscribe"].startswith(f"<{expected}>")
        text = message.get_body(("plain",)).get_content()
        assert expected in text and "NPU" in text
        assert re.match(r"读者\d+ <r\d+@example\.com>", str(message["To"]))
    with send_app.extensions["db"].session() as session:
        statuses = dict(session.execute(
            select(Delivery.status, func.count()).where(Delivery.send_id == send_id)
            .group_by(Delivery.status)).all())
    assert statuses == {"sent": 1000}


def _counts(app, send_id: int) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        return dict(session.execute(
            select(Delivery.status, func.count()).where(Delivery.send_id == send_id)
            .group_by(Delivery.status)).all())


def test_4xx_replies_are_deferred_and_sent_later(send_app, workers, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    fill_list(send_app, 200)
    # 421 closes the session: a server fault, so fewer than the pause threshold of them.
    smtp_sink.faults.defer_code = 421
    smtp_sink.faults.defer_all = 8
    workers.start_worker()
    workers.start_beat()
    send_id = start(send_app)

    def switch_to_451() -> None:
        import time

        while smtp_sink.faults.defer_all > 0:
            time.sleep(0.05)
        smtp_sink.faults.defer_code, smtp_sink.faults.defer_all = 451, 30

    import threading

    switcher = threading.Thread(target=switch_to_451)
    switcher.start()
    assert wait_for_status(send_app, send_id, ("finished",), timeout=120) == "finished"
    switcher.join()
    recipients = Counter(r.rcpt_tos[0] for r in smtp_sink.received)
    assert len(recipients) == 200 and set(recipients.values()) == {1}
    with send_app.extensions["db"].session() as session:
        retried = session.scalar(select(func.count()).where(
            Delivery.send_id == send_id, Delivery.attempts > 1))
    assert retried >= 25  # 30 were deferred by the reader's server (451), then delivered
    assert _counts(send_app, send_id) == {"sent": 200}


def test_a_rcpt_5xx_refuses_exactly_those_recipients(send_app, workers, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    """Refused at RCPT: those readers only, each recorded as a bounce with the reply."""
    fill_list(send_app, 300)
    refused = {f"r{n}@example.com" for n in range(0, 300, 37)}
    smtp_sink.faults.refuse.update(refused)
    workers.start_worker(concurrency=2)
    send_id = start(send_app)
    assert wait_for_status(send_app, send_id, ("finished",), timeout=120) == "finished"
    delivered = {r.rcpt_tos[0] for r in smtp_sink.received}
    assert delivered == {f"r{n}@example.com" for n in range(300)} - refused
    from service.subscribers.models import Subscriber

    with send_app.extensions["db"].session() as session:
        bounced = set(session.scalars(
            select(Subscriber.email).join(Delivery, Delivery.subscriber_id == Subscriber.id)
            .where(Delivery.send_id == send_id, Delivery.status == "bounced")))
        replies = set(session.scalars(select(Delivery.last_reply).where(Delivery.status == "bounced")))
    assert bounced == refused
    assert replies and all(reply.startswith("rcpt: 550") for reply in replies)
    assert _counts(send_app, send_id) == {"sent": 300 - len(refused), "bounced": len(refused)}


def test_a_dead_smtp_server_pauses_the_send_and_resume_completes_it(send_app, workers, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    from service.queue import enqueue
    from service.sending.sends import get_send, resume_send

    fill_list(send_app, 300)
    smtp_sink.stop()
    workers.start_worker()
    workers.start_beat()
    send_id = start(send_app)
    assert wait_for_status(send_app, send_id, ("paused",), timeout=60) == "paused"
    with send_app.extensions["db"].session() as session:
        send = get_send(session, send_id)
        assert "server errors in a row" in send.status_reason
        assert "NEWSLETTER_SMTP_URL" in send.status_reason
    assert _counts(send_app, send_id).get("failed", 0) == 0  # nobody was given up on

    smtp_sink.start()
    with send_app.extensions["db"].session() as session:
        resume_send(session, get_send(session, send_id, lock=True))
    enqueue(send_app.config["NEWSLETTER"], "newsletter.send_issue", send_id)
    assert wait_for_status(send_app, send_id, ("finished",), timeout=120) == "finished"
    recipients = Counter(r.rcpt_tos[0] for r in smtp_sink.received)
    assert len(recipients) == 300 and set(recipients.values()) == {1}


def test_starting_twice_and_competing_workers_send_no_duplicates(send_app, workers, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    from service.queue import enqueue
    from service.sending.sends import SendError, get_send, start_send

    fill_list(send_app, 600)
    send_id = start(send_app)
    with send_app.extensions["db"].session() as session:
        try:
            start_send(session, get_send(session, send_id))
            raise AssertionError("a started send started again")
        except SendError:
            pass
    for _ in range(5):  # the same task enqueued again and again
        enqueue(send_app.config["NEWSLETTER"], "newsletter.send_issue", send_id)
    workers.start_worker(concurrency=2)
    workers.start_worker(concurrency=2)
    assert wait_for_status(send_app, send_id, ("finished",), timeout=120) == "finished"
    recipients = Counter(r.rcpt_tos[0] for r in smtp_sink.received)
    assert len(recipients) == 600 and set(recipients.values()) == {1}


def _wait_until_sent(smtp_sink, count: int, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout
    while len(smtp_sink.received) < count:
        assert time.monotonic() < deadline, f"only {len(smtp_sink.received)} sent"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_sigkill_every_worker_mid_send_and_new_ones_finish_within_two_minutes(send_config, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    """Every worker process and beat die by SIGKILL at 30% of 3,000. With the default lease
    and sweep, a new worker and beat finish the send in under two minutes: nobody lost, and
    no more sent twice than were in flight (sent, not yet recorded) when they died."""
    import time
    from dataclasses import replace

    from tests.conftest import running_app
    from tests.sending.conftest import Workers

    config = replace(send_config, send_lease_seconds=60, sweep_seconds=30)  # the defaults
    with running_app(config) as app:
        first, second = Workers(config), Workers(config)
        try:
            fill_list(app, 3000)
            first.start_worker(concurrency=2)
            first.start_beat()
            send_id = start(app)
            _wait_until_sent(smtp_sink, 900)
            first.stop_all()  # SIGKILL to every worker, its pool and beat
            at_kill = len(smtp_sink.received)
            in_flight = at_kill - _counts(app, send_id).get("sent", 0)
            restarted = time.monotonic()
            second.start_worker(concurrency=2)
            second.start_beat()
            assert wait_for_status(app, send_id, ("finished",), timeout=150) == "finished"
            recovery = time.monotonic() - restarted
        finally:
            first.stop_all()
            second.stop_all()
        received = [r.rcpt_tos[0] for r in smtp_sink.received]
        duplicates = len(received) - len(set(received))
        print(f"\nSIGKILL after {at_kill} of 3000 ({in_flight} in flight): finished"
              f" {recovery:.0f} s after the restart, {duplicates} sent twice")
        assert set(received) == {f"r{n}@example.com" for n in range(3000)}
        assert duplicates <= in_flight
        assert recovery <= 120
        assert _counts(app, send_id) == {"sent": 3000}


@pytest.mark.slow
def test_redis_restart_mid_send_still_completes(send_app, workers, smtp_sink, redis_server) -> None:  # type: ignore[no-untyped-def]
    fill_list(send_app, 2000)
    workers.start_worker(concurrency=2)
    workers.start_beat()
    send_id = start(send_app)
    _wait_until_sent(smtp_sink, 300)
    redis_server.stop()  # everything queued in Redis is gone with it
    import time

    time.sleep(1.0)
    redis_server.start()
    assert wait_for_status(send_app, send_id, ("finished",), timeout=180) == "finished"
    recipients = Counter(r.rcpt_tos[0] for r in smtp_sink.received)
    assert len(recipients) == 2000
    assert set(recipients.values()) == {1}  # nothing sent twice: no batch lost its rows
    assert _counts(send_app, send_id) == {"sent": 2000}
