"""Pause, resume and cancel a send: the database change, then the signal to running batches,
then (for a resume) the work to enqueue. Used by the command line, and by the admin pages
and the API alike."""

from __future__ import annotations

from typing import Any

from service.config import Config
from service.db import Database
from service.queue import enqueue_for_running_send
from service.redis_guard import fast_failing_client
from service.sending.halt import HaltSignal
from service.sending.sends import cancel_send, get_send, pause_send, resume_send, start_send
from service.sending.states import SendStatus

ACTIONS = ("pause", "resume", "cancel")
PAUSED_BY_OPERATOR = "paused by an operator"


def redis_client(config: Config) -> Any:
    """The sending engine's Redis client (limits and halt flags), or None without Redis."""
    return fast_failing_client(config.redis_url) if config.redis_url else None


def control_send(db: Database, config: Config, send_id: int, action: str,
                 reason: str = PAUSED_BY_OPERATOR, redis: Any = None) -> str:
    """Apply ``action`` and answer the send's new status. SendError when it cannot be done."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    with db.session() as session:
        send = get_send(session, send_id, lock=True)
        if action == "pause":
            pause_send(session, send, reason)
        elif action == "cancel":
            cancel_send(session, send)
        elif resume_send(session, send):
            start_send(session, send)
        status = send.status
    halt = HaltSignal(db, redis if redis is not None else redis_client(config))
    if status == SendStatus.SENDING:
        halt.lower_flag(send_id)
        enqueue_for_running_send(config, "newsletter.send_issue", send_id)
    elif status in (SendStatus.PAUSED, SendStatus.CANCELLED):
        halt.raise_flag(send_id, status)
    else:
        halt.lower_flag(send_id)
    return str(status)
