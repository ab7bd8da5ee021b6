"""The inbound SMTP receiver (aiosmtpd): mail sent to ``unsubscribe-<token>@<inbound domain>``,
the mailto: half of List-Unsubscribe, unsubscribes its sender's subscription.

A recipient is checked at RCPT time, so a forged or unknown address is refused with 550
before any message is accepted. Bounces to VERP addresses will arrive here too.
"""

from __future__ import annotations

import logging
from typing import Any

from aiosmtpd.controller import Controller
from flask import Flask

from service.subscribers.links import resolve_mailto
from service.tokens import TokenError

log = logging.getLogger(__name__)


class InboundHandler:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.domain = app.config["NEWSLETTER"].inbound_domain.lower()

    def _local_part(self, address: str) -> str | None:
        local, _, domain = address.rpartition("@")
        return local if domain.lower() == self.domain and local else None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        local = self._local_part(address)
        if local is None:
            return "550 5.1.1 not a mailbox of this service"
        db = self.app.extensions["db"]
        signer = self.app.extensions["subscribers"].links.signer
        try:
            with db.session() as session:
                resolve_mailto(session, signer, local)
        except TokenError:
            return "550 5.1.1 unknown or damaged unsubscribe address"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        db = self.app.extensions["db"]
        service = self.app.extensions["subscribers"]
        for address in envelope.rcpt_tos:
            local = self._local_part(address)
            with db.session() as db_session:
                target = resolve_mailto(db_session, service.links.signer, local or "")
                service.unsubscribe(db_session, target.subscriber, target.list_id, source="mailto")
            log.info("unsubscribed subscriber %s by mail", target.subscriber.id)
        return "250 OK: unsubscribed"


class InboundServer:
    def __init__(self, app: Flask, host: str, port: int) -> None:
        if not app.config["NEWSLETTER"].inbound_domain:
            raise ValueError("NEWSLETTER_INBOUND_DOMAIN is not set")
        self.controller = Controller(
            InboundHandler(app), hostname=host, port=port, decode_data=False, enable_SMTPUTF8=True
        )

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()
