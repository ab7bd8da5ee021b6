"""Sends through real Celery workers, Redis, PostgreSQL/SQLite and an SMTP sink."""

from __future__ import annotations

import re
from collections import Counter

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
