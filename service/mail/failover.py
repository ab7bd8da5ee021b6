"""Several SMTP servers as one: a server that stops answering is set aside for a while, the
others take its load, and it is tried again when its rest is over."""

from __future__ import annotations

import time
from collections.abc import Callable

from service.mail.transport import Outcome, Reply, SmtpConnection, SmtpSettings, Stage

# How long a server that failed before taking a message is left alone.
SERVER_REST_SECONDS = 30.0


class FailoverTransport:
    """Connections to one or more servers, tried in order; each message goes to the first
    server that is not resting. A server that fails before it takes a message (no connection,
    greeting, EHLO, AUTH or sender refused), drops the line or says 421 rests; the message
    moves on to the next server unless its content had already gone out."""

    def __init__(self, servers: list[SmtpSettings], rest_seconds: float = SERVER_REST_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not servers:
            raise ValueError("no SMTP server")
        self.connections = [SmtpConnection(server) for server in servers]
        self.resting_until = [0.0] * len(servers)
        self.rest_seconds = rest_seconds
        self.clock = clock

    def _order(self) -> list[int]:
        now = self.clock()
        ready = [i for i, until in enumerate(self.resting_until) if until <= now]
        # When every server rests, try them anyway rather than fail without asking.
        return ready or sorted(range(len(self.connections)), key=lambda i: self.resting_until[i])

    def _attempt(self, method: str, mail_from: str, to: str, data: bytes) -> Reply:
        reply = Reply(Outcome.SERVER, 0, "no SMTP server", Stage.CONNECT)
        for index in self._order():
            reply = getattr(self.connections[index], method)(mail_from, to, data)
            if reply.server_in_trouble:
                self.resting_until[index] = self.clock() + self.rest_seconds
            if not reply.retry_elsewhere:
                return reply  # answered, or the content went out: no second copy elsewhere
        return reply

    def send_prepared(self, mail_from: str, to: str, data: bytes) -> Reply:
        return self._attempt("send_prepared", mail_from, to, data)

    def send(self, mail_from: str, to: str, data: bytes) -> Reply:
        """Like send_prepared, for bytes that still need dot-stuffing (a stdlib message)."""
        return self._attempt("send", mail_from, to, data)

    def close(self) -> None:
        for connection in self.connections:
            connection.close()
