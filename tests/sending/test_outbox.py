"""The outbox relay against a real SMTP server: delivered, deferred and retried, or failed."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage

from sqlalchemy import select, update

from service.db import utcnow
from service.mail import outbox
from service.mail.models import OutboxMessage
from service.mail.transport import parse_smtp_urls


def _queue(db, *addresses: str) -> None:  # type: ignore[no-untyped-def]
    with db.session() as session:
        for address in addresses:
            message = EmailMessage()
            message["From"], message["To"], message["Subject"] = "n@example.org", address, "确认"
            message.set_content("内容")
            outbox.enqueue(session, "confirm", "n@example.org", address, message)


def _rows(db) -> dict[str, OutboxMessage]:  # type: ignore[no-untyped-def]
    with db.session() as session:
        return {row.to_address: row for row in session.scalars(select(OutboxMessage))}


def _make_due(db) -> None:  # type: ignore[no-untyped-def]
    with db.session() as session:
        session.execute(update(OutboxMessage).values(next_attempt_at=utcnow() - dt.timedelta(seconds=1)))


def test_delivers_everything_due(app, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    db = app.extensions["db"]
    _queue(db, "a@example.com", "b@example.com")
    assert outbox.deliver_due(db, parse_smtp_urls(smtp_sink.url)) == 2
    assert sorted(r.rcpt_tos[0] for r in smtp_sink.received) == ["a@example.com", "b@example.com"]
    assert {row.status for row in _rows(db).values()} == {"sent"}
    assert outbox.deliver_due(db, parse_smtp_urls(smtp_sink.url)) == 0  # nothing twice


def test_5xx_fails_that_message_only(app, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    db = app.extensions["db"]
    smtp_sink.faults.refuse.add("gone@example.com")
    _queue(db, "gone@example.com", "ok@example.com")
    outbox.deliver_due(db, parse_smtp_urls(smtp_sink.url))
    rows = _rows(db)
    assert rows["gone@example.com"].status == "failed"
    assert rows["gone@example.com"].last_reply.startswith("550")
    assert rows["ok@example.com"].status == "sent"


def test_4xx_and_a_dead_server_defer_and_lose_nothing(app, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    db = app.extensions["db"]
    settings = parse_smtp_urls(smtp_sink.url)
    smtp_sink.faults.defer_all = 1
    _queue(db, "later@example.com")
    outbox.deliver_due(db, settings)
    row = _rows(db)["later@example.com"]
    assert (row.status, row.attempts) == ("pending", 1) and row.last_reply.startswith("451")
    assert row.next_attempt_at > utcnow() + dt.timedelta(seconds=50)
    assert outbox.deliver_due(db, settings) == 0  # not due yet

    smtp_sink.stop()
    _make_due(db)
    outbox.deliver_due(db, settings)
    row = _rows(db)["later@example.com"]
    assert (row.status, row.attempts) == ("pending", 2) and "connection" in row.last_reply

    smtp_sink.start()
    _make_due(db)
    assert outbox.deliver_due(db, settings) == 1
    assert _rows(db)["later@example.com"].status == "sent"
    assert [r.rcpt_tos for r in smtp_sink.received] == [["later@example.com"]]


def test_gives_up_after_the_last_retry(app, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    db = app.extensions["db"]
    smtp_sink.faults.defer_all = 100
    _queue(db, "never@example.com")
    for _ in range(outbox.MAX_ATTEMPTS):
        _make_due(db)
        outbox.deliver_due(db, parse_smtp_urls(smtp_sink.url))
    row = _rows(db)["never@example.com"]
    assert (row.status, row.attempts) == ("failed", outbox.MAX_ATTEMPTS)


def test_two_relays_never_send_one_message_twice(app, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    import threading

    db = app.extensions["db"]
    _queue(db, *[f"r{i}@example.com" for i in range(40)])
    settings = parse_smtp_urls(smtp_sink.url)
    threads = [threading.Thread(target=outbox.deliver_due, args=(db, settings, 10)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    while outbox.deliver_due(db, settings):
        pass
    recipients = [r.rcpt_tos[0] for r in smtp_sink.received]
    assert len(recipients) == 40 == len(set(recipients))


def test_the_relay_thread_delivers_after_a_kick(app, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    db = app.extensions["db"]
    _queue(db, "kick@example.com")
    app.extensions["outbox"].kick()
    assert [r.rcpt_tos for r in smtp_sink.wait_for(1)] == [["kick@example.com"]]
