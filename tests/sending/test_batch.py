"""One batch, run in this process against a real database and SMTP sink: what it records
when it raises, when its lease is taken over, and what it puts in each message."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from dataclasses import replace

import pytest
from sqlalchemy import select, update

from service.db import utcnow
from service.mail.transport import Outcome, Reply, Stage
from service.sending.batch import FLUSH_EVERY, process_batch
from service.sending.leases import Claimed
from service.sending.models import Delivery
from service.sending.results import Results
from service.sending.sender import Sender
from service.subscribers.lists import create_list
from service.subscribers.models import Subscriber, Subscription
from tests.conftest import running_app
from tests.sending.conftest import delivery_counts, fill_list, start


@pytest.fixture
def batch_app(config):  # type: ignore[no-untyped-def]
    with running_app(replace(config, send_batch_size=100)) as app:
        yield app


def sender_for(app) -> Sender:  # type: ignore[no-untyped-def]
    return Sender.build(app.config["NEWSLETTER"], app.extensions["db"])


def test_a_message_that_cannot_be_built_defers_its_row_and_the_batch_goes_on(batch_app, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    fill_list(batch_app, 100)
    send_id = start(batch_app, queue=False)
    sender = sender_for(batch_app)
    real, calls = sender.deliver, []

    def failing(*args):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 30:
            raise RuntimeError("a bug in the middle of a batch")
        return real(*args)

    sender.deliver = failing  # type: ignore[method-assign]
    process_batch(sender, send_id)
    sender.close()
    assert len(smtp_sink.received) == 99
    assert delivery_counts(batch_app, send_id) == {"sent": 99, "deferred": 1}
    with batch_app.extensions["db"].session() as session:
        reply = session.scalar(select(Delivery.last_reply).where(Delivery.status == "deferred"))
    assert "RuntimeError: a bug in the middle of a batch" in reply


def test_a_batch_whose_results_cannot_be_written_stops_and_gives_back_the_rest(batch_app, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    fill_list(batch_app, 100)
    send_id = start(batch_app, queue=False)
    sender = sender_for(batch_app)
    real_flush, flushes = Results.flush, []

    def broken_first_flush(self, session):  # type: ignore[no-untyped-def]
        flushes.append(1)
        if len(flushes) == 1:
            raise RuntimeError("the database went away")
        return real_flush(self, session)

    Results.flush = broken_first_flush  # type: ignore[method-assign]
    try:
        with pytest.raises(RuntimeError):
            process_batch(sender, send_id)
    finally:
        Results.flush = real_flush  # type: ignore[method-assign]
        sender.close()
    # It stopped at its first flush: nothing more was sent, and the finally wrote what was.
    assert len(smtp_sink.received) == FLUSH_EVERY
    assert delivery_counts(batch_app, send_id) == {"sent": FLUSH_EVERY, "queued": 100 - FLUSH_EVERY}


@pytest.mark.parametrize("stolen", [100, 1], ids=["all rows", "one row"])
def test_a_batch_whose_lease_was_taken_over_writes_nothing_and_stops(batch_app, smtp_sink, stolen) -> None:  # type: ignore[no-untyped-def]
    fill_list(batch_app, 100)
    send_id = start(batch_app, queue=False)
    sender = sender_for(batch_app)
    db, real, calls = batch_app.extensions["db"], sender.deliver, []

    def taken_over(*args):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 10:  # as if the lease had run out and another batch claimed rows
            with db.session() as session:
                last = select(Delivery.id).where(Delivery.send_id == send_id) \
                    .order_by(Delivery.id.desc()).limit(stolen)
                session.execute(update(Delivery).where(Delivery.id.in_(last))
                                .values(claim_token="another-batch"))
        return real(*args)

    sender.deliver = taken_over  # type: ignore[method-assign]
    result = process_batch(sender, send_id)
    sender.close()
    assert result.stopped
    assert len(smtp_sink.received) == FLUSH_EVERY  # it found out at its first flush
    with db.session() as session:
        rows = session.execute(select(Delivery.status, Delivery.claim_token)
                               .where(Delivery.send_id == send_id,
                                      Delivery.claim_token == "another-batch")).all()
    assert {tuple(row) for row in rows} == {("sending", "another-batch")} and len(rows) == stolen


def test_the_unsubscribe_link_names_the_list_the_email_was_sent_to(batch_app, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    db = batch_app.extensions["db"]
    fill_list(batch_app, 3, slug="news")
    with db.session() as session:
        other = create_list(session, "weekly", "Weekly")
        reader = session.scalar(select(Subscriber).where(Subscriber.email == "r1@example.com"))
        session.add(Subscription(subscriber_id=reader.id, list_id=other.id, status="confirmed",
                                 source="test"))
    send_id = start(batch_app, lists=("weekly",), queue=False)
    sender = sender_for(batch_app)
    process_batch(sender, send_id)
    sender.close()
    [received] = smtp_sink.received
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    domain = batch_app.config["NEWSLETTER"].message_id_domain
    assert str(message["List-Id"]) == f"<weekly.{domain}>"  # the list's, whatever the issue
    url = str(message["List-Unsubscribe"]).split(",")[0].strip("<> ")
    path = url.split("news.example.org", 1)[1]
    response = batch_app.test_client().post(path, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    with db.session() as session:
        states = dict(session.execute(
            select(Subscription.list_id, Subscription.status)
            .where(Subscription.subscriber_id == reader.id)).all())
    assert states[other.id] == "unsubscribed"
    assert [s for lid, s in states.items() if lid != other.id] == ["confirmed"]


def test_an_internationalised_domain_goes_to_smtp_in_its_idna_2008_form(batch_app, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    import io

    from service.subscribers.importer import import_csv

    db = batch_app.extensions["db"]
    with db.session() as session:
        mailing_list = create_list(session, "news", "News")
    import_csv(db, io.StringIO("email,name\nuser@faß.de,Fass\n"), mailing_list, confirmed=True)
    send_id = start(batch_app, queue=False)
    sender = sender_for(batch_app)
    process_batch(sender, send_id)
    sender.close()
    [received] = smtp_sink.received
    assert received.rcpt_tos == ["user@xn--fa-hia.de"]  # not fass.de, another owner's domain
    assert delivery_counts(batch_app, send_id) == {"sent": 1}


def _row(deferred_since: dt.datetime | None = None, attempts: int = 1) -> Claimed:
    return Claimed(1, 1, attempts, deferred_since, 1, "a@example.com", "", "a@example.com", True)


def test_a_reader_deferred_past_the_retry_window_fails_with_its_last_reply(config) -> None:  # type: ignore[no-untyped-def]
    results = Results(replace(config, send_retry_window_seconds=3600, send_max_attempts=99), "t")
    later = Reply(Outcome.DEFERRED, 452, "4.2.2 mailbox full", Stage.RCPT)
    results.add(_row(utcnow() - dt.timedelta(minutes=30)), later)
    results.add(_row(utcnow() - dt.timedelta(hours=2)), later)
    assert [r["b_status"] for r in results.retry] == ["deferred", "failed"]
    assert results.retry[1]["b_reply"] == "rcpt: 452 4.2.2 mailbox full"


def test_a_server_fault_never_counts_against_the_reader(config) -> None:  # type: ignore[no-untyped-def]
    results = Results(replace(config, send_max_attempts=2), "t")
    results.add(_row(attempts=5), Reply(Outcome.SERVER, 554, "sender refused", Stage.MAIL), 3)
    [row] = results.retry
    assert row["b_status"] == "deferred" and row["b_attempts"] == 5 and row["b_since"] is None


def test_a_held_refusal_is_not_blamed_on_its_reader_by_a_server_error_after_it() -> None:
    from service.sending.verdicts import Verdicts

    verdicts = Verdicts()
    refused = Reply(Outcome.FAILED, 554, "5.7.1 message refused", Stage.MESSAGE)
    dropped = Reply(Outcome.SERVER, 0, "connection dropped", Stage.MAIL)
    assert verdicts.judge(_row(), refused) == []
    assert [r.outcome for _, r in verdicts.judge(_row(), dropped)] == [Outcome.SERVER]
    second = verdicts.judge(_row(), refused)
    assert [r.outcome for _, r in second] == [Outcome.SERVER, Outcome.SERVER]


def test_the_same_policy_refusal_at_rcpt_for_reader_after_reader_is_the_servers() -> None:
    from service.sending.verdicts import Verdicts

    verdicts = Verdicts()
    relay = Reply(Outcome.FAILED, 554, "5.7.1 Relay access denied", Stage.RCPT)
    unknown = Reply(Outcome.FAILED, 550, "5.1.1 no such user", Stage.RCPT)
    assert verdicts.judge(_row(), relay) == []
    assert [r.outcome for _, r in verdicts.judge(_row(), relay)] == [Outcome.SERVER] * 2
    # An unknown user stays the reader's, at once.
    assert [r.outcome for _, r in Verdicts().judge(_row(), unknown)] == [Outcome.FAILED]
