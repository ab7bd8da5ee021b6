"""A real SMTP server for tests (aiosmtpd, in-process) that keeps what it receives and can be
told to misbehave at every stage: a refused greeting, a refused login, a refused sender,
refused or deferred recipients, a refused message, a slow message, or a hang-up mid-DATA."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]


@dataclass
class Faults:
    refuse: set[str] = field(default_factory=set)  # addresses answered with 550
    defer_all: int = 0  # answer this many RCPTs with 451 (then accept again)
    defer_code: int = 451
    disconnect_next: int = 0  # drop the connection at this many DATA commands
    greeting: str = ""  # e.g. "554 5.7.1 no service": said instead of 220, then hang up
    refuse_login: bool = False  # AUTH answers 535
    refuse_sender: str = ""  # e.g. "554 5.7.1 sender refused": the reply to every MAIL FROM
    refuse_message: str = ""  # e.g. "554 5.7.1 message refused": the reply to every message
    data_delay: float = 0.0  # seconds before answering each message


class SinkHandler:
    def __init__(self, pipelining: bool = False) -> None:
        self.pipelining = pipelining
        self.received: list[Received] = []
        self.faults = Faults()
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        if self.pipelining:  # aiosmtpd reads commands line by line, so it copes with RFC 2920
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        with self.lock:
            if self.faults.refuse_sender:
                return self.faults.refuse_sender
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        with self.lock:
            if address.lower() in self.faults.refuse:
                return "550 5.1.1 no such user"
            if self.faults.defer_all > 0:
                self.faults.defer_all -= 1
                return f"{self.faults.defer_code} 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.faults.data_delay:
            await asyncio.sleep(self.faults.data_delay)
        with self.lock:
            if self.faults.refuse_message:
                return self.faults.refuse_message
            if self.faults.disconnect_next > 0:
                self.faults.disconnect_next -= 1
                server.transport.close()  # type: ignore[union-attr]
                return "421 closing"
            self.received.append(
                Received(envelope.mail_from or "", list(envelope.rcpt_tos), envelope.original_content or b"")
            )
            self.arrived.notify_all()
        return "250 Message accepted"


    def authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                     auth_data: LoginPassword) -> AuthResult:
        # handled=False: aiosmtpd itself answers 535 to a refusal.
        return AuthResult(success=not self.faults.refuse_login, handled=False)


class FaultySMTP(SMTP):
    """aiosmtpd's server, with a greeting that can be a refusal."""

    def __init__(self, handler: SinkHandler, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(handler, **kwargs)
        self.sink = handler
        self.greeted = False

    async def push(self, status):  # type: ignore[no-untyped-def]
        if not self.greeted:
            self.greeted = True
            refusal = self.sink.faults.greeting
            if refusal:
                await super().push(refusal)
                self.transport.close()  # type: ignore[union-attr]
                return
        await super().push(status)


class SinkController(Controller):
    def factory(self) -> SMTP:
        return FaultySMTP(self.handler, **self.SMTP_kwargs)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpSink:
    def __init__(self, port: int | None = None, pipelining: bool = False) -> None:
        self.handler = SinkHandler(pipelining)
        self.port = port or free_port()
        self.controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    @property
    def faults(self) -> Faults:
        return self.handler.faults

    def start(self) -> SmtpSink:
        # A stopped controller's event loop is closed: every start gets a new one.
        self.controller = SinkController(
            self.handler, hostname="127.0.0.1", port=self.port,
            decode_data=False, enable_SMTPUTF8=True,
            authenticator=self.handler.authenticate, auth_require_tls=False,
        )
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self.handler.arrived:
            while len(self.handler.received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.handler.arrived.wait(remaining)
            return list(self.handler.received)

    def clear(self) -> None:
        with self.handler.lock:
            self.handler.received.clear()
