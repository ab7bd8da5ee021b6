"""What one worker process keeps across batches (SMTP connections, limits, the DKIM keys, the
prepared message of each send) and how it turns one ledger row into message bytes."""

from __future__ import annotations

import email.utils
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from service.config import Config
from service.db import Database
from service.mail.failover import FailoverTransport
from service.mail.message import smtp_address
from service.mail.transport import Reply, parse_smtp_urls
from service.ops.smtp_metrics import SmtpMetrics
from service.sending.assembly import MessageTemplate, Recipient, list_id_header
from service.sending.dkim_signing import DkimSigner
from service.sending.halt import HaltSignal
from service.sending.leases import Claimed
from service.sending.lookahead import Draft, Lookahead, Message
from service.sending.models import Send
from service.sending.preview import personal_values
from service.sending.sends import compiled_from_send, parse_list_ids
from service.sending.throttle import ConnectionSlots, RateLimiter
from service.subscribers.links import LinkBuilder
from service.subscribers.models import MailingList
from service.tokens import TokenSigner

log = logging.getLogger(__name__)


@dataclass
class Sender:
    config: Config
    db: Database
    links: LinkBuilder
    transport: FailoverTransport
    rate: RateLimiter
    slots: ConnectionSlots
    halt: HaltSignal
    dkim: DkimSigner | None = None
    # SMTP replies and latency, added to Redis every few dozen messages (not per message).
    metrics: SmtpMetrics = field(default_factory=SmtpMetrics)
    # (send id, content hash) → list id → the send's message for readers of that list
    templates: dict[tuple[int, str], dict[int, MessageTemplate]] = field(default_factory=dict)
    signing_pool: ThreadPoolExecutor | None = None  # made at the first signed batch

    @classmethod
    def build(cls, config: Config, db: Database, redis_client: Any = None) -> Sender:
        signer = TokenSigner.from_config(config)
        return cls(
            config=config,
            db=db,
            links=LinkBuilder(config.base_url, signer, config.inbound_domain),
            transport=FailoverTransport(parse_smtp_urls(config.smtp_url)),
            rate=RateLimiter(config.send_rate, redis_client),
            slots=ConnectionSlots(config.smtp_max_connections, redis_client),
            halt=HaltSignal(db, redis_client, listen=True),
            metrics=SmtpMetrics(redis_client),
            dkim=DkimSigner.from_config(config),
        )

    def templates_for(self, send: Send) -> dict[int, MessageTemplate]:
        """The send's message, prepared once per list (only List-Id differs between them)."""
        key = (send.id, send.content_hash)
        if key not in self.templates:
            compiled = compiled_from_send(send)
            with self.db.session() as session:
                slugs = dict(session.execute(
                    select(MailingList.id, MailingList.slug)
                    .where(MailingList.id.in_(parse_list_ids(send)))).all())
            domain = self.config.message_id_domain
            self.templates = {key: {
                list_id: MessageTemplate(compiled, mail_from=send.mail_from,
                                         reply_to=send.reply_to,
                                         list_id=list_id_header(slug, domain))
                for list_id, slug in slugs.items()
            }}
        return self.templates[key]

    def envelope_sender(self, send: Send, delivery_id: int) -> str:
        """VERP: bounces come back to an address that names the delivery."""
        if self.config.bounce_domain:
            token = self.links.signer.sign_short("verp", (delivery_id,))
            return f"bounces+{token}@{self.config.bounce_domain}"
        return email.utils.parseaddr(send.mail_from)[1]

    def draft(self, send: Send, templates: dict[int, MessageTemplate], row: Claimed,
              date: str) -> Draft:
        """One ledger row's message, filled in and, with DKIM on, ready to be signed."""
        template = templates.get(row.list_id) or next(iter(templates.values()))
        values = personal_values(self.links, template.compiled, row.email, row.name,
                                 row.subscriber_id, row.list_id)
        recipient = Recipient(
            address=smtp_address(row.email),
            name=row.name,
            message_id=f"<nl.{send.id}.{row.delivery_id}.{row.attempts}@{self.config.message_id_domain}>",
            values=values,
            unsubscribe_mailto=self.links.unsubscribe_mailto(row.subscriber_id, row.email_key,
                                                             row.list_id),
        )
        data = template.render(recipient, date)
        unsigned = self.dkim.prepare(data) if self.dkim is not None else None
        return Draft(recipient.address, data, unsigned)

    def lookahead(self, send: Send, templates: dict[int, MessageTemplate],
                  rows: list[Claimed], date: str) -> Lookahead:
        """The batch's messages, each signed on a helper thread while the one before it is
        sent (see lookahead.py)."""
        if self.dkim is not None and self.signing_pool is None:
            self.signing_pool = ThreadPoolExecutor(1, thread_name_prefix="dkim")
        return Lookahead(lambda row: self.draft(send, templates, row, date), rows,
                         self.signing_pool)

    def deliver(self, send: Send, row: Claimed, message: Message) -> Reply:
        """Send one row's message (the batch has taken its token from the rate limit)."""
        address, data = message
        envelope = self.envelope_sender(send, row.delivery_id)
        started = time.perf_counter()
        reply = self.transport.send_prepared(envelope, address, data)
        self.metrics.observe(reply, time.perf_counter() - started)
        return reply

    def end_batch(self) -> None:
        """Give the connection slot back; with a cap on connections, close them as well, so
        the slot and the connection are held by the same batch."""
        if self.slots.cap > 0:
            self.transport.close()
        self.slots.release()
        self.metrics.push()

    def close(self) -> None:
        if self.signing_pool is not None:
            self.signing_pool.shutdown(wait=True, cancel_futures=True)
            self.signing_pool = None
        self.metrics.push()
        self.transport.close()
        self.slots.release()
        self.halt.close()
