"""Helpers for bounce tests: readers on a list, a send whose ledger says "sent", the VERP
address and Message-ID the sender gave each delivery, and DSNs that return them.

The DSNs are written here, shaped like what Postfix sends (RFC 3464: a human part, a
``message/delivery-status`` part and the returned headers), with the original's envelope
sender, Message-ID and List-Id filled in.
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import select, update

from service.db import utcnow
from service.sending.models import Delivery
from service.sending.sender import list_id_header
from service.sending.states import DeliveryStatus
from service.subscribers.models import Subscriber
from service.tokens import TokenSigner
from tests.sending.conftest import fill_list, start

USER_UNKNOWN = ("5.1.1", "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in"
                " virtual mailbox table")
MAILBOX_FULL = ("5.2.2", "552 5.2.2 <{rcpt}>: Mailbox full: quota exceeded")


def readers(app, count: int, slug: str = "news", prefix: str = "r") -> int:  # type: ignore[no-untyped-def]
    """A list of ``count`` confirmed readers ``<prefix><n>@example.com``; its id."""
    return fill_list(app, count, slug, prefix)


def sent_send(app, slug: str = "news", sent_at: dt.datetime | None = None) -> int:  # type: ignore[no-untyped-def]
    """A send to the list whose every delivery went out (as a finished batch leaves it)."""
    send_id = start(app, lists=(slug,), queue=False)
    with app.extensions["db"].session() as session:
        session.execute(update(Delivery).where(Delivery.send_id == send_id).values(
            status=DeliveryStatus.SENT, attempts=1, sent_at=sent_at or utcnow(),
            last_reply="250 ok"))
    return send_id


def deliveries(app, send_id: int) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Each reader's address → their delivery id in the send."""
    with app.extensions["db"].session() as session:
        rows = session.execute(
            select(Subscriber.email, Delivery.id).join(
                Delivery, Delivery.subscriber_id == Subscriber.id)
            .where(Delivery.send_id == send_id)).all()
    return dict(rows)


def verp_address(app, delivery_id: int) -> str:  # type: ignore[no-untyped-def]
    """The envelope sender the sending engine gives this delivery."""
    config = app.config["NEWSLETTER"]
    token = TokenSigner(config.secret_key).sign_short("verp", (delivery_id,))
    return f"bounces+{token}@{config.bounce_domain}"


def message_id(app, send_id: int, delivery_id: int, attempt: int = 0) -> str:  # type: ignore[no-untyped-def]
    return f"nl.{send_id}.{delivery_id}.{attempt}@{app.config['NEWSLETTER'].message_id_domain}"


def list_id(app, slug: str = "news") -> str:  # type: ignore[no-untyped-def]
    return list_id_header(slug, app.config["NEWSLETTER"].message_id_domain)


def dsn(recipient: str, *, envelope: str = "", original_id: str = "", list_header: str = "",
        reason: tuple[str, str] = USER_UNKNOWN, own_id: str = "", to: str = "") -> bytes:
    """A Postfix-style DSN for ``recipient``, returning an original sent from ``envelope``."""
    status, diagnostic = reason[0], reason[1].format(rcpt=recipient)
    own_id = own_id or f"<{secrets.token_hex(8)}@mx.example.net>"
    to = to or envelope or "bounces@bounces.example.org"
    original = [f"Return-Path: <{envelope}>" if envelope else "",
                f"Message-ID: <{original_id}>" if original_id else "",
                f"List-Id: 嵌入式AI简报 {list_header}" if list_header else "",
                "From: =?utf-8?b?5bWM5YWl5byPQUnnroDmiqU=?= <news@news.example.org>",
                f"To: {recipient}", "Subject: =?utf-8?b?5bWM5YWl5byPQUnnroDmiqU=?="]
    lines = [
        "Return-Path: <>",
        f"To: {to}",
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)",
        "Subject: Undelivered Mail Returned to Sender",
        "Date: Tue, 14 Oct 2025 09:12:05 +0000",
        f"Message-Id: {own_id}",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b0undary"',
        "",
        "--b0undary",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "This is the mail system at host mx.example.net.",
        "",
        "I'm sorry to have to inform you that your message could not",
        "be delivered to one or more recipients.",
        "",
        f"<{recipient}>: host mx.example.net[192.0.2.25] said: {diagnostic}"
        " (in reply to RCPT TO command)",
        "",
        "--b0undary",
        "Content-Type: message/delivery-status",
        "",
        "Reporting-MTA: dns; mx.example.net",
        "",
        f"Final-Recipient: rfc822; {recipient}",
        "Action: failed",
        f"Status: {status}",
        f"Diagnostic-Code: smtp; {diagnostic}",
        "",
        "--b0undary",
        "Content-Type: text/rfc822-headers",
        "",
        *[line for line in original if line],
        "",
        "--b0undary--",
        "",
    ]
    return "\r\n".join(lines).encode("utf-8")
