"""One batch of a send: claim rows under a token, send each, record the results in bulk.

A batch never trusts the queue. It claims rows in the database, checks before every message
that the send is still running and that its lease is fresh (renewing it at every flush and
whenever a third of it has passed), and writes results every FLUSH_EVERY messages and in a
``finally``, so a worker killed mid-batch resends at most that many once its lease expires.
A batch that cannot record its results raises before it sends more.
"""

from __future__ import annotations

import email.utils
import logging
import time
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.bounces.sync import record_sync_refusals
from service.mail.transport import Outcome, Reply, Stage
from service.ops.logs import set_context
from service.sending import leases
from service.sending.leases import Claimed, Lease
from service.sending.lookahead import Lookahead
from service.sending.models import Send
from service.sending.results import Results, Tally
from service.sending.sender import Sender
from service.sending.server_faults import pause_reason
from service.sending.states import SendStatus
from service.sending.verdicts import Verdicts

log = logging.getLogger(__name__)
FLUSH_EVERY = 50


@dataclass
class BatchResult:
    tally: Tally
    paused: str = ""
    stopped: bool = False  # the send was halted, or the lease was lost

    @property
    def claimed(self) -> int:
        return self.tally.claimed


def process_batch(sender: Sender, send_id: int) -> BatchResult:
    """Claim and send one batch of a send. Safe to run twice or concurrently."""
    config, db = sender.config, sender.db
    token = leases.new_token()
    set_context(send_id=send_id, claim=token)  # on every log line of this batch
    lease = Lease(config.send_lease_seconds)
    with db.session() as session:
        send = session.get(Send, send_id)
        if send is None or send.status != SendStatus.SENDING:
            return BatchResult(Tally(), stopped=True)
        session.expunge(send)
    templates = sender.templates_for(send)
    # The connection slot first: rows claimed while waiting for one would sit leased.
    if not sender.slots.acquire():
        return BatchResult(Tally(), stopped=True)
    try:
        with db.session() as session:
            started = time.monotonic()
            rows = leases.claim(session, send_id, config.send_batch_size, lease.delta, token)
            errors = session.get(Send, send_id).consecutive_errors
    except BaseException:
        sender.end_batch()  # the slot must not outlive a claim that failed
        raise
    lease.mark_renewed(started)
    results = Results(config, token)
    result = BatchResult(results.tally)
    result.tally.claimed = len(rows)
    if not rows:
        sender.end_batch()
        return result
    run = _Run(sender, send, templates, token, lease, results, result, errors)
    try:
        run.send_all(rows)
    finally:
        try:
            run.finish()
        finally:
            sender.end_batch()
    return result


class _Run:
    """The state of one batch while it sends."""

    def __init__(self, sender: Sender, send: Send, templates: dict, token: str, lease: Lease,
                 results: Results, result: BatchResult, errors: int) -> None:
        self.sender, self.send, self.templates = sender, send, templates
        self.token, self.lease, self.results, self.result = token, lease, results, result
        self.errors = errors
        self.written_errors = errors  # as the database has it
        self.verdicts = Verdicts()
        self.ids: list[int] = []
        self.tried = 0  # self.ids[self.tried:] are claimed and not yet tried
        self.last_server_reply: Reply | None = None

    @property
    def unsent(self) -> list[int]:
        return self.ids[self.tried:]

    def send_all(self, rows: list[Claimed]) -> None:
        date = email.utils.formatdate(usegmt=True)
        self.ids = [r.delivery_id for r in rows]
        messages = self.sender.lookahead(self.send, self.templates, rows, date)
        try:
            self._send_each(rows, messages)
        finally:
            messages.close()

    def _send_each(self, rows: list[Claimed], messages: Lookahead) -> None:
        config, sender = self.sender.config, self.sender
        for row in rows:
            if sender.halt.halted(self.send.id):
                self.result.stopped = True
                return
            sender.rate.acquire()  # before the lease check: the wait may be long
            if self.lease.due() and not self.flush():
                return
            self.tried += 1
            if not row.deliverable:
                self.results.skip(row)
            else:
                for judged_row, reply in self.verdicts.judge(row, self.deliver(row, messages)):
                    self.record(judged_row, reply)
            if self.errors >= config.send_max_consecutive_errors:
                self.result.paused = pause_reason(self.errors, self.last_server_reply)
                return
            if len(self.results) >= FLUSH_EVERY and not self.flush():
                return

    def deliver(self, row: Claimed, messages: Lookahead) -> Reply:
        """One message; a fault of ours in building it (a bug, a bad key) defers this row
        with the error, counted as an attempt, instead of stopping the whole send on it."""
        set_context(send_id=self.send.id, delivery_id=row.delivery_id)  # for any log line
        try:
            return self.sender.deliver(self.send, row, messages.message(row))
        except Exception as exc:  # noqa: BLE001 - recorded on the row, logged with its trace
            log.exception("send %s, delivery %s: building or sending failed", self.send.id,
                          row.delivery_id)
            return Reply(Outcome.DEFERRED, 0, f"not sent: {type(exc).__name__}: {exc}"[:500],
                         Stage.CONNECT)

    def record(self, row: Claimed, reply: Reply) -> None:
        if reply.outcome is Outcome.SERVER:
            self.errors += 1
            self.last_server_reply = reply
        else:
            self.errors = 0
        self.results.add(row, reply, self.errors)

    def flush(self) -> bool:
        """Write the results, and renew the lease once a third of it has passed; False (and
        stopped) when the lease was lost or the send was paused or cancelled meanwhile.
        Renewing rewrites every row the batch holds, so between renewals the flush only
        counts them: a loss is still noticed within FLUSH_EVERY messages."""
        renewing = self.lease.due()
        renewing_at = time.monotonic()
        with self.sender.db.session() as session:
            held = self.results.flush(session)
            renewed = (leases.renew(session, self.send.id, self.token, self.lease.delta)
                       if renewing else leases.held(session, self.send.id, self.token))
            status = self._sync_send(session)
        self.results.clear()
        if renewing:
            self.lease.mark_renewed(renewing_at)
        self.sender.slots.refresh()
        # Still ours: every untried row, and a refusal held for its verdict.
        expected = len(self.unsent) + (self.verdicts.held is not None)
        if not held or renewed != expected:
            self.result.stopped = True  # another batch owns some of our rows now
            return False
        if status != SendStatus.SENDING:
            self.result.stopped = True
            return False
        return True

    def _sync_send(self, session: Session) -> str | None:
        """The send's status, writing the run of server errors when it changed: one
        statement either way."""
        if self.errors == self.written_errors:
            return session.scalar(select(Send.status).where(Send.id == self.send.id))
        status = session.scalar(update(Send).where(Send.id == self.send.id)
                                .values(consecutive_errors=self.errors).returning(Send.status))
        self.written_errors = self.errors
        return status

    def finish(self) -> None:
        """Write what is left, pause the send if it must, and give back what was not tried."""
        for row, reply in self.verdicts.leftover():
            self.record(row, reply)
        with self.sender.db.session() as session:
            self.results.flush(session)
            leases.release(session, self.unsent, self.token)
            values: dict = {"consecutive_errors": self.errors}
            if self.result.paused:
                values.update(status=SendStatus.PAUSED, status_reason=self.result.paused)
            session.execute(
                update(Send).where(Send.id == self.send.id, Send.status == SendStatus.SENDING)
                .values(**values)
            )
        self.results.clear()
        record_sync_refusals(self.sender.db, self.sender.config, self.send.id)  # as bounces
        if self.result.paused:
            self.sender.halt.raise_flag(self.send.id, SendStatus.PAUSED)
