"""Telling running batches to stop before their next message.

The database is the truth about a send's status; this is how a batch learns of a pause or a
cancel in time to send at most one more message. The command that pauses publishes the send's
id on a Redis channel after its commit; every worker process listens in a thread of its own
and keeps the halted ids in memory, so the check before each message costs a set lookup, not a
round trip. While the listener is not connected (no Redis, Redis away, just reconnected) a
batch asks the database instead: slower, never wrong. A batch also reads the status from the
database at every flush, which bounds what a lost notice could cost.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sqlalchemy import select

from service.db import Database
from service.redis_guard import RedisGuard
from service.sending.models import Send
from service.sending.states import SendStatus

log = logging.getLogger(__name__)
CHANNEL = "newsletter:send-control"
RECONNECT_SECONDS = 1.0
# Without the listener, how often a batch asks the database: on SQLite every read takes the
# write lock, so not before every message. A pause then reaches batches within this time.
DATABASE_CHECK_SECONDS = 0.25


class HaltSignal:
    def __init__(self, db: Database, redis_client: Any = None, listen: bool = False) -> None:
        self.db = db
        self.redis = redis_client
        self.guard = RedisGuard(redis_client, "send control")
        self.halted_ids: set[int] = set()
        # Sends checked against the database since the listener last (re)connected.
        self.verified: set[int] = set()
        self.connected = threading.Event()
        # Bumped by every notice, so a database answer read before a notice cannot undo it.
        self.versions: dict[int, int] = {}
        self.last_asked: dict[int, tuple[float, bool]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if listen and redis_client is not None:
            self._thread = threading.Thread(target=self._listen, name="send-control",
                                            daemon=True)
            self._thread.start()

    # -- the side that pauses, resumes and cancels

    def raise_flag(self, send_id: int, status: str) -> None:
        """Call after the commit that paused or cancelled the send."""
        self._publish(f"halt:{send_id}:{status}")

    def lower_flag(self, send_id: int) -> None:
        """Call after the commit that resumed the send."""
        self._publish(f"go:{send_id}")

    def _publish(self, message: str) -> None:
        self.guard.call(lambda client: client.publish(CHANNEL, message), lambda: 0)

    # -- the side that sends

    def halted(self, send_id: int) -> bool:
        """True when the send is no longer sending. A halt the listener heard of is confirmed
        with the database before a batch stops on it, so a notice that crossed a resume
        cannot stop a running send."""
        connected = self.connected.is_set()
        with self._lock:
            known, halted = send_id in self.verified, send_id in self.halted_ids
            version = self.versions.get(send_id, 0)
        if connected and known and not halted:
            return False
        if not connected:
            asked_at, answer = self.last_asked.get(send_id, (-1e9, False))
            if time.monotonic() - asked_at < DATABASE_CHECK_SECONDS:
                return answer
        halted = self._ask_database(send_id)
        self.last_asked[send_id] = (time.monotonic(), halted)
        if self.connected.is_set():
            with self._lock:
                if self.versions.get(send_id, 0) != version:
                    return send_id in self.halted_ids  # a newer notice came meanwhile
                self.verified.add(send_id)
                if halted:
                    self.halted_ids.add(send_id)
                else:
                    self.halted_ids.discard(send_id)
        return halted

    def _ask_database(self, send_id: int) -> bool:
        with self.db.session() as session:
            status = session.scalar(select(Send.status).where(Send.id == send_id))
        return status != SendStatus.SENDING

    def _listen(self) -> None:
        while not self._stop.is_set():
            pubsub = None
            try:
                pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CHANNEL)
                with self._lock:  # notices may have been missed: verify each send anew
                    self.verified.clear()
                    self.halted_ids.clear()
                self.connected.set()
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=RECONNECT_SECONDS)
                    if message and message.get("type") == "message":
                        self._apply(message["data"])
            except Exception as exc:  # noqa: BLE001 - reconnect; batches ask the database
                if self.connected.is_set():
                    log.warning("send control channel lost (%s); asking the database", exc)
                self.connected.clear()
                time.sleep(RECONNECT_SECONDS)
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:  # noqa: BLE001 - already broken
                        pass

    def _apply(self, data: bytes | str) -> None:
        text = data.decode() if isinstance(data, bytes) else data
        verb, _, rest = text.partition(":")
        number = rest.split(":", 1)[0]
        if not number.isdecimal() or not number.isascii():
            return
        send_id = int(number)
        with self._lock:
            self.versions[send_id] = self.versions.get(send_id, 0) + 1
            if verb == "halt":
                self.halted_ids.add(send_id)
                self.verified.add(send_id)
            elif verb == "go":
                self.halted_ids.discard(send_id)
                self.verified.discard(send_id)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * RECONNECT_SECONDS + 1)
