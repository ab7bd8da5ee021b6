"""Retry only the failed readers of a finished send: their ledger rows go back to the queue,
the send runs again, and every other row (sent, bounced, skipped...) stays as it is, so
nobody gets the issue twice."""

from __future__ import annotations

from sqlalchemy import update

from service.config import Config
from service.db import Database
from service.queue import enqueue_for_running_send
from service.sending.control import redis_client
from service.sending.halt import HaltSignal
from service.sending.models import Delivery
from service.sending.sends import SendError, get_send
from service.sending.states import DeliveryStatus as DS
from service.sending.states import SendStatus

SEND_ISSUE = "newsletter.send_issue"


def retry_failed(db: Database, config: Config, send_id: int) -> int:
    """Queue the failed deliveries of finished send ``send_id`` again and restart it; answers
    how many were queued. SendError when the send is not finished or has no failed row.

    The rows start afresh (no attempts, no deferral) so the retry window and the attempt
    limit apply to the new try as they did to the first. The batch re-checks each reader
    before sending: one who unsubscribed or bounced since is skipped, not mailed."""
    with db.session() as session:
        send = get_send(session, send_id, lock=True)
        if send.status != SendStatus.FINISHED:
            raise SendError(f"send {send_id} is {send.status}; only a finished send is retried")
        requeued = session.execute(
            update(Delivery)
            .where(Delivery.send_id == send_id, Delivery.status == DS.FAILED)
            .values(status=DS.QUEUED, attempts=0, deferred_since=None, next_attempt_at=None,
                    lease_until=None, claim_token=None)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not requeued:
            raise SendError(f"send {send_id} has no failed deliveries to retry")
        send.status, send.finished_at, send.status_reason = SendStatus.SENDING, None, ""
        send.consecutive_errors = 0
    # A flag left from an earlier pause would stop the new batches at once.
    HaltSignal(db, redis_client(config)).lower_flag(send_id)
    enqueue_for_running_send(config, SEND_ISSUE, send_id)  # after the commit: rows are there
    return requeued
