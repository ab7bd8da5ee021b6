"""The inbound SMTP receiver (aiosmtpd), for two kinds of mail:

- ``unsubscribe-<token>@<inbound domain>``, the mailto: half of List-Unsubscribe, which
  unsubscribes its sender's subscription;
- bounces: ``bounces+<signed delivery id>@<bounce domain>`` (VERP, the envelope sender of
  every issue email) and the plain ``bounces@<bounce domain>``, recorded by the bounce
  service.

A recipient is checked at RCPT time, so a forged or unknown address (a VERP token whose
signature does not verify, too) is refused with 550 before any message is accepted. Database
work runs in a thread off the event loop, so one slow query does not stall every connection;
a database failure answers 451 so that the sending server tries again later.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any

from aiosmtpd.controller import Controller
from flask import Flask

from service.bounces.bounce_mail import handle_bounce_mail
from service.bounces.events import Bounces
from service.bounces.locate import ForgedToken, verify_verp, verp_token
from service.subscribers.links import resolve_mailto
from service.tokens import TokenError

log = logging.getLogger(__name__)
BOUNCE_LOCAL = "bounces"
# Bounce mail returns the original message; issues with images inline can be large.
MAX_MESSAGE_BYTES = 10 * 1024 * 1024
TRY_LATER = "451 4.3.0 temporary failure, try again later"


class InboundHandler:
    def __init__(self, app: Flask) -> None:
        self.app = app
        config = app.config["NEWSLETTER"]
        self.config = config
        self.domain = config.inbound_domain.lower()
        self.bounce_domain = config.bounce_domain.lower()
        self.bounces = Bounces.from_config(config)

    def _route(self, address: str) -> tuple[str, str]:
        """('unsubscribe' | 'bounce' | '', local part) for an envelope recipient."""
        local, _, domain = address.rpartition("@")
        domain = domain.lower()
        if not local:
            return "", ""
        if self.bounce_domain and domain == self.bounce_domain and (
                local.lower() == BOUNCE_LOCAL or verp_token(local)):
            return "bounce", local
        if self.domain and domain == self.domain:
            return "unsubscribe", local
        return "", ""

    async def _in_thread(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, partial(function, *args))

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        kind, local = self._route(address)
        if kind == "bounce":
            token = verp_token(local)
            if token:
                try:
                    verify_verp(self.bounces.signer, token)  # an HMAC: no need for a thread
                except ForgedToken:
                    return "550 5.1.1 unknown or damaged bounce address"
            envelope.rcpt_tos.append(address)
            return "250 OK"
        if kind != "unsubscribe":
            return "550 5.1.1 not a mailbox of this service"
        try:
            await self._in_thread(self._check_mailto, local)
        except TokenError:
            return "550 5.1.1 unknown or damaged unsubscribe address"
        except Exception:  # noqa: BLE001 - the database is away: let the sender retry
            log.exception("inbound: checking %s failed", address)
            return TRY_LATER
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def _check_mailto(self, local: str) -> None:
        db = self.app.extensions["db"]
        signer = self.app.extensions["subscribers"].links.signer
        with db.session() as session:
            resolve_mailto(session, signer, local)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        try:
            return await self._in_thread(self._deliver, envelope.rcpt_tos,
                                         envelope.original_content or envelope.content or b"")
        except Exception:  # noqa: BLE001 - nothing was recorded: the sender tries again
            log.exception("inbound: handling a message failed")
            return TRY_LATER

    def _deliver(self, recipients: list[str], raw: bytes) -> str:
        answers = []
        bounce_done = False
        for address in recipients:
            kind, local = self._route(address)
            if kind == "unsubscribe":
                self._unsubscribe(local)
                answers.append("unsubscribed")
            elif kind == "bounce" and not bounce_done:
                # One message is one bounce, whichever of our addresses it was sent to.
                bounce_done = True
                result = handle_bounce_mail(self.app.extensions["db"], self.bounces, raw,
                                            "smtp", local)
                log.info("inbound bounce: %s %s/%s %s", result.outcome, result.kind,
                         result.reason, result.detail)
                answers.append(f"bounce {result.outcome}")
        return "250 OK: " + ", ".join(answers)

    def _unsubscribe(self, local: str) -> None:
        db = self.app.extensions["db"]
        service = self.app.extensions["subscribers"]
        with db.session() as db_session:
            target = resolve_mailto(db_session, service.links.signer, local)
            service.unsubscribe(db_session, target.subscriber, target.list_id, source="mailto")
        log.info("unsubscribed subscriber %s by mail", target.subscriber.id)


class InboundServer:
    def __init__(self, app: Flask, host: str, port: int) -> None:
        config = app.config["NEWSLETTER"]
        if not (config.inbound_domain or config.bounce_domain):
            raise ValueError("set NEWSLETTER_INBOUND_DOMAIN or NEWSLETTER_BOUNCE_DOMAIN")
        self.controller = Controller(
            InboundHandler(app), hostname=host, port=port, decode_data=False,
            enable_SMTPUTF8=True, data_size_limit=MAX_MESSAGE_BYTES,
        )

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()
