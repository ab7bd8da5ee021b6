"""Telling running batches to stop before their next message.

The database is the truth about a send's status; this is how a batch learns of a pause or a
cancel in time to send at most one more message. With Redis a flag is set after the database
commit and read before every message (one GET, tens of microseconds); without Redis, or while
Redis cannot be reached, the batch asks the database instead.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from service.db import Database
from service.redis_guard import RedisGuard
from service.sending.models import Send
from service.sending.states import SendStatus

log = logging.getLogger(__name__)
FLAG_TTL_SECONDS = 7 * 24 * 3600


def flag_key(send_id: int) -> str:
    return f"newsletter:send:{send_id}:halt"


class HaltSignal:
    def __init__(self, db: Database, redis_client: Any = None) -> None:
        self.db = db
        self.redis = redis_client
        self.guard = RedisGuard(redis_client, "halt flags")

    def raise_flag(self, send_id: int, status: str) -> None:
        """Call after the commit that paused or cancelled the send."""
        if self.redis is None:
            return
        try:
            self.redis.set(flag_key(send_id), status, ex=FLAG_TTL_SECONDS)
        except Exception as exc:  # noqa: BLE001 - batches fall back to the database
            log.warning("could not flag send %s as %s in Redis: %s", send_id, status, exc)

    def lower_flag(self, send_id: int) -> None:
        """Call after the commit that resumed the send."""
        if self.redis is None:
            return
        try:
            self.redis.delete(flag_key(send_id))
        except Exception as exc:  # noqa: BLE001 - batches confirm a flag with the database
            log.warning("could not clear the halt flag of send %s in Redis: %s", send_id, exc)

    def halted(self, send_id: int) -> bool:
        """True when the send is no longer sending. A raised flag is confirmed with the
        database, so a flag left behind by a failed resume cannot stop a running send."""
        flagged = self.guard.call(lambda client: client.get(flag_key(send_id)) is not None,
                                  lambda: True)  # Redis is away: ask the database
        if not flagged:
            return False
        with self.db.session() as session:
            status = session.scalar(select(Send.status).where(Send.id == send_id))
        return status != SendStatus.SENDING
