"""Bounce tables: every bounce and complaint received, the raw mail kept for a while, and
when the bounce mailbox was last polled."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, UTCDateTime, utcnow

# Where an event came in. "sync-rcpt" is a refusal at RCPT TO seen by the sending engine itself.
SOURCES = ("smtp", "imap", "pop3", "ses", "mailgun", "sendgrid", "postmark", "generic", "sync-rcpt")
KINDS = ("hard", "soft", "complaint", "ignore")


class BounceEvent(Base):
    """One bounce, complaint or auto-reply about one delivery (when it could be told which).

    ``dedup_key`` makes a second copy of the same event a no-op: ``<provider>:<event id>``
    for webhooks, ``mail:<the bounce's own Message-ID>`` (else ``mail-sha256:<hash>``) for
    bounce mail, whichever way it arrived, and ``rcpt:<delivery>:<attempt>`` for a refusal
    at RCPT TO.
    """

    __tablename__ = "bounce_event"
    __table_args__ = (
        Index("ix_bounce_event_subscriber_received", "subscriber_id", "received_at"),
        Index("ix_bounce_event_send_kind", "send_id", "kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(255), unique=True)
    source: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20), default="")
    diagnostic: Mapped[str] = mapped_column(Text, default="")
    recipient: Mapped[str] = mapped_column(String(320), default="")
    # A reader who deletes their data takes their bounces with them.
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscriber.id", ondelete="CASCADE"), nullable=True
    )
    send_id: Mapped[int | None] = mapped_column(
        ForeignKey("send.id", ondelete="SET NULL"), nullable=True
    )
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("delivery.id", ondelete="SET NULL"), nullable=True
    )
    # How the delivery was found (verp, message-id, list-id, recipient, ledger) or "".
    matched_by: Mapped[str] = mapped_column(String(20), default="")
    # What the policy did: suppressed, counted, complained, none, unmatched...
    action: Mapped[str] = mapped_column(String(20), default="")
    occurred_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BounceRaw(Base):
    """The raw bounce mail or provider JSON of an event, deleted after NEWSLETTER_BOUNCE_RAW_DAYS.

    A table of its own, so pruning deletes exactly the rows still kept instead of scanning
    every old event again on each sweep.
    """

    __tablename__ = "bounce_raw"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("bounce_event.id", ondelete="CASCADE"), primary_key=True
    )
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class BounceMailbox(Base):
    """The bounce mailbox's last poll, so that an operator can see when it stopped working."""

    __tablename__ = "bounce_mailbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(400), unique=True)  # the URL without its password
    last_polled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_success_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_fetched: Mapped[int] = mapped_column(Integer, default=0)
    last_kept: Mapped[int] = mapped_column(Integer, default=0)
