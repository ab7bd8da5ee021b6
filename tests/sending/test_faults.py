"""Server faults through real Celery workers, Redis and an SMTP sink: none is held against a
reader, the send pauses itself with a reason a person can act on, and after a resume every
reader gets the issue exactly once."""

from __future__ import annotations

import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import replace

import pytest

from tests.conftest import running_app
from tests.sending.conftest import (
    Workers,
    control,
    delivery_counts,
    fill_list,
    send_reason,
    start,
    wait_for_status,
)

READERS = 120
# fault attribute, value, words the pause reason must contain
SERVER_FAULTS = {
    "sender-refused": ("refuse_sender", "554 5.7.1 sender not allowed", "NEWSLETTER_MAIL_FROM"),
    "login-refused": ("refuse_login", True, "user and password"),
    "greeting-refused": ("greeting", "554 5.7.1 no service", "greeting"),
    "every-message-refused": ("refuse_message", "554 5.6.0 content refused",
                              "several different readers"),
    "dropped-mid-data": ("disconnect_next", 10**6, "dropped"),
}


@contextmanager
def app_and_workers(config):  # type: ignore[no-untyped-def]
    """An app and worker processes of their own, for a test that changes the settings."""
    with running_app(config) as app:
        workers = Workers(config)
        try:
            yield app, workers
        finally:
            workers.stop_all()


def assert_each_once(sink, count: int) -> None:  # type: ignore[no-untyped-def]
    recipients = Counter(r.rcpt_tos[0] for r in sink.received)
    assert len(recipients) == count, len(recipients)
    assert set(recipients.values()) == {1}, recipients.most_common(3)


@pytest.mark.slow
@pytest.mark.parametrize("fault", list(SERVER_FAULTS))
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_server_fault_fails_nobody_and_pauses_the_send(fault, send_config, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    attribute, value, hint = SERVER_FAULTS[fault]
    config = replace(send_config, smtp_url=smtp_sink.url.replace("//", "//user:secret@"))
    smtp_sink.handler.pipelining = True  # the path real servers take: MAIL, RCPT, DATA at once
    setattr(smtp_sink.faults, attribute, value)
    with app_and_workers(config) as (app, workers):
        fill_list(app, READERS)
        workers.start_worker(concurrency=2)
        workers.start_beat()
        send_id = start(app)
        assert wait_for_status(app, send_id, ("paused",), timeout=90) == "paused"
        reason = send_reason(app, send_id)
        assert "server errors in a row" in reason and hint in reason, reason
        assert "sends resume" in reason
        assert delivery_counts(app, send_id).get("failed", 0) == 0
        assert smtp_sink.received == []

        setattr(smtp_sink.faults, attribute, type(value)())  # the operator fixes it
        assert control(app, send_id, "resume") == "sending"
        assert wait_for_status(app, send_id, ("finished",), timeout=120) == "finished"
        assert_each_once(smtp_sink, READERS)
        assert delivery_counts(app, send_id) == {"sent": READERS}


@pytest.mark.slow
def test_one_refused_message_fails_only_its_reader(send_app, workers, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    """A single refusal after DATA names its reader's fault; the send goes on."""
    fill_list(send_app, 60)

    class RefuseOne:
        def __init__(self, handler) -> None:  # type: ignore[no-untyped-def]
            self.handler, self.original = handler, handler.handle_DATA

        async def __call__(self, server, session, envelope):  # type: ignore[no-untyped-def]
            if envelope.rcpt_tos == ["r7@example.com"]:
                return "554 5.6.0 message for r7 refused"
            return await self.original(server, session, envelope)

    smtp_sink.handler.handle_DATA = RefuseOne(smtp_sink.handler)  # type: ignore[method-assign]
    workers.start_worker()
    send_id = start(send_app)
    assert wait_for_status(send_app, send_id, ("finished",), timeout=90) == "finished"
    assert delivery_counts(send_app, send_id) == {"sent": 59, "failed": 1}


@pytest.mark.slow
def test_two_smtp_servers_one_down_the_other_takes_the_send(send_config, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    from tests.smtp_sink import free_port

    config = replace(send_config, smtp_url=f"smtp://127.0.0.1:{free_port()}, {smtp_sink.url}")
    with app_and_workers(config) as (app, workers):
        fill_list(app, 200)
        workers.start_worker(concurrency=2)
        send_id = start(app)
        assert wait_for_status(app, send_id, ("finished",), timeout=90) == "finished"
        assert_each_once(smtp_sink, 200)
        assert delivery_counts(app, send_id) == {"sent": 200}


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_pause_then_cancel_stop_batches_before_their_next_message(send_config, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    config = replace(send_config, send_batch_size=50)
    smtp_sink.faults.data_delay = 0.02  # slow enough to catch the send in the middle
    with app_and_workers(config) as (app, workers):
        fill_list(app, 600)
        workers.start_worker(concurrency=2)
        send_id = start(app)
        deadline = time.monotonic() + 60
        while len(smtp_sink.received) < 100:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert control(app, send_id, "pause") == "paused"
        at_pause = len(smtp_sink.received)
        time.sleep(2.0)
        after_pause = len(smtp_sink.received)
        # Two pool processes, each with a message possibly already on the wire.
        assert after_pause - at_pause <= 2, (at_pause, after_pause)
        assert control(app, send_id, "cancel") == "cancelled"
        time.sleep(1.0)
        assert len(smtp_sink.received) == after_pause
        counts = delivery_counts(app, send_id)
        assert counts.get("sending", 0) == 0  # every batch gave its rows back
        assert counts["sent"] == after_pause


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_slow_server_cannot_make_a_batch_outlive_its_lease(send_config, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    """A 2 s lease, a batch that needs 6 s, a second worker and beat waiting to take
    expired rows: the lease is renewed, nothing is sent twice."""
    config = replace(send_config, send_lease_seconds=2, send_batch_size=30, sweep_seconds=1)
    smtp_sink.faults.data_delay = 0.2
    with app_and_workers(config) as (app, workers):
        fill_list(app, 90)
        workers.start_worker(concurrency=1)
        workers.start_worker(concurrency=1)
        workers.start_beat()
        send_id = start(app)
        assert wait_for_status(app, send_id, ("finished",), timeout=120) == "finished"
        assert_each_once(smtp_sink, 90)


@pytest.mark.slow
def test_dkim_every_message_of_a_send_verifies(send_config, smtp_sink, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import dkim
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    from service.sending.dkim_signing import public_key_record
    from tests.sending.test_dkim import dns_for, write_key

    rsa_pem = write_key(tmp_path / "rsa.pem", rsa.generate_private_key(65537, 2048))
    ed_pem = write_key(tmp_path / "ed.pem", ed25519.Ed25519PrivateKey.generate())
    config = replace(send_config, dkim_selector="news", dkim_key_file=str(tmp_path / "rsa.pem"),
                     dkim_ed25519_selector="newsed",
                     dkim_ed25519_key_file=str(tmp_path / "ed.pem"), dkim_domain="example.org")
    dns = dns_for({b"news._domainkey.example.org.": public_key_record(rsa_pem),
                   b"newsed._domainkey.example.org.": public_key_record(ed_pem)})
    with app_and_workers(config) as (app, workers):
        fill_list(app, 200)
        workers.start_worker(concurrency=2)
        send_id = start(app)
        assert wait_for_status(app, send_id, ("finished",), timeout=120) == "finished"
    received = smtp_sink.received
    assert len(received) == 200
    for message in received:
        verifier = dkim.DKIM(message.data)
        assert verifier.verify(idx=0, dnsfunc=dns) and verifier.verify(idx=1, dnsfunc=dns)
