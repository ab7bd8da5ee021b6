"""One batch of a send: claim rows under a token, send each, record the results in bulk.

A batch never trusts the queue. It claims rows in the database, checks before every message
that the send is still running and that its lease is fresh (renewing it at every flush and
whenever a third of it has passed), and writes results every FLUSH_EVERY messages and in a
``finally``, so a worker killed mid-batch resends at most that many once its lease expires.
A batch that cannot record its results raises before it sends more.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass

from sqlalchemy import update

from service.bounces.sync import record_sync_refusals
from service.mail.transport import Outcome, Reply, Stage
from service.sending import leases
from service.sending.leases import Claimed, Lease
from service.sending.models import Send
from service.sending.results import Results, Tally
from service.sending.sender import Sender
from service.sending.server_faults import pause_reason
from service.sending.states import SendStatus

FLUSH_EVERY = 50


@dataclass
class BatchResult:
    tally: Tally
    paused: str = ""
    stopped: bool = False  # the send was halted, or the lease was lost

    @property
    def claimed(self) -> int:
        return self.tally.claimed


class _Verdicts:
    """Holds a refusal of the message (a 5xx after DATA) until the next reader's outcome is
    known: one such refusal is the reader's, the same refusal for consecutive different
    readers is the server's (a content filter, a size limit, a broken signature)."""

    def __init__(self) -> None:
        self.held: tuple[Claimed, Reply] | None = None
        self.streak = False
        self.delivered_before = False

    @staticmethod
    def _is_message_refusal(row: Claimed, reply: Reply) -> bool:
        return (reply.outcome is Outcome.FAILED and reply.stage is Stage.MESSAGE
                and row.email.lower() not in reply.text.lower())

    def judge(self, row: Claimed, reply: Reply) -> list[tuple[Claimed, Reply]]:
        """The (row, reply) pairs whose verdict is now known, server-level ones rewritten."""
        if self._is_message_refusal(row, reply):
            if self.held is not None or self.streak:
                self.streak = True
                earlier, self.held = ([self.held] if self.held else []), None
                return [(r, _as_server(rep)) for r, rep in earlier] + [(row, _as_server(reply))]
            self.held = (row, reply)
            return []
        self.streak = self.streak and reply.outcome is Outcome.SERVER
        self.delivered_before = self.delivered_before or reply.outcome is Outcome.SENT
        earlier, self.held = ([self.held] if self.held else []), None
        return earlier + [(row, reply)]

    def leftover(self) -> list[tuple[Claimed, Reply]]:
        """At the end of the batch: a held refusal stands as the reader's only if this batch
        saw the server take messages; otherwise it waits for another try."""
        if self.held is None:
            return []
        row, reply = self.held
        self.held = None
        return [(row, reply if self.delivered_before else _as_server(reply))]


def _as_server(reply: Reply) -> Reply:
    return Reply(Outcome.SERVER, reply.code, reply.text, reply.stage)


def process_batch(sender: Sender, send_id: int) -> BatchResult:
    """Claim and send one batch of a send. Safe to run twice or concurrently."""
    config, db = sender.config, sender.db
    token = leases.new_token()
    lease = Lease(config.send_lease_seconds)
    with db.session() as session:
        send = session.get(Send, send_id)
        if send is None or send.status != SendStatus.SENDING:
            return BatchResult(Tally(), stopped=True)
        session.expunge(send)
    templates = sender.templates_for(send)
    with db.session() as session:
        started = time.monotonic()
        rows = leases.claim(session, send_id, config.send_batch_size, lease.delta, token)
        errors = session.get(Send, send_id).consecutive_errors
    lease.mark_renewed(started)
    results = Results(config, token)
    result = BatchResult(results.tally)
    result.tally.claimed = len(rows)
    if not rows:
        return result
    if not sender.slots.acquire():
        with db.session() as session:
            leases.release(session, [r.delivery_id for r in rows], token)
        result.stopped = True
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
        self.verdicts = _Verdicts()
        self.unsent: list[int] = []  # claimed, not yet tried
        self.last_server_reply: Reply | None = None

    def send_all(self, rows: list[Claimed]) -> None:
        config, sender = self.sender.config, self.sender
        date = email.utils.formatdate(usegmt=True)
        self.unsent = [r.delivery_id for r in rows]
        for row in rows:
            if sender.halt.halted(self.send.id):
                self.result.stopped = True
                return
            if self.lease.due() and not self.flush():
                return
            self.unsent.remove(row.delivery_id)
            if not row.deliverable:
                self.results.skip(row)
            else:
                for judged_row, reply in self.verdicts.judge(row, sender.deliver(
                        self.send, self.templates, row, date)):
                    self.record(judged_row, reply)
            if self.errors >= config.send_max_consecutive_errors:
                self.result.paused = pause_reason(self.errors, self.last_server_reply)
                return
            if len(self.results) >= FLUSH_EVERY and not self.flush():
                return

    def record(self, row: Claimed, reply: Reply) -> None:
        if reply.outcome is Outcome.SERVER:
            self.errors += 1
            self.last_server_reply = reply
        else:
            self.errors = 0
        self.results.add(row, reply, self.errors)

    def flush(self) -> bool:
        """Write the results and renew the lease; False (and stopped) when the lease was lost
        or the send was paused or cancelled meanwhile."""
        renewing_at = time.monotonic()
        with self.sender.db.session() as session:
            held = self.results.flush(session)
            renewed = leases.renew(session, self.send.id, self.token, self.lease.delta)
            session.execute(update(Send).where(Send.id == self.send.id)
                            .values(consecutive_errors=self.errors))
            status = session.get(Send, self.send.id).status
        self.lease.mark_renewed(renewing_at)
        if not held or renewed < len(self.unsent):
            self.result.stopped = True  # another batch owns some of our rows now
            return False
        if status != SendStatus.SENDING:
            self.result.stopped = True
            return False
        return True

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
        record_sync_refusals(self.sender.db, self.sender.config, self.send.id)  # as bounces
        if self.result.paused:
            self.sender.halt.raise_flag(self.send.id, SendStatus.PAUSED)
