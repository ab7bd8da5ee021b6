"""Sending's tables: the sends of issues with their per-recipient delivery ledger."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, UTCDateTime, utcnow
from service.sending.states import DeliveryStatus, SendStatus

SEND_STATUSES = tuple(SendStatus)
DELIVERY_STATUSES = tuple(DeliveryStatus)


class Send(Base):
    """One issue sent to one or more lists, with the compiled email frozen at creation."""

    __tablename__ = "send"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_slug: Mapped[str] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(12), default=SendStatus.DRAFT)
    status_reason: Mapped[str] = mapped_column(Text, default="")
    # The snapshot: editing the issue file mid-send changes nothing in flight.
    content_hash: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    tokens: Mapped[str] = mapped_column(Text)  # JSON: slot name → placeholder
    mail_from: Mapped[str] = mapped_column(String(400))
    reply_to: Mapped[str] = mapped_column(String(400), default="")
    list_ids: Mapped[str] = mapped_column(String(400))  # comma-separated mailing_list ids
    scheduled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    total: Mapped[int] = mapped_column(Integer, default=0)
    consecutive_errors: Mapped[int] = mapped_column(Integer, default=0)


class Delivery(Base):
    """One recipient of one send: the ledger row that makes sends resumable and auditable."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("send_id", "subscriber_id"),
        Index("ix_delivery_send_status", "send_id", "status"),
        # A reader's deliveries, newest first (the admin's reader page), and the rows a
        # deleted reader's cascade removes without scanning the whole ledger.
        Index("ix_delivery_subscriber_id", "subscriber_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    send_id: Mapped[int] = mapped_column(ForeignKey("send.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscriber.id", ondelete="CASCADE"))
    list_id: Mapped[int] = mapped_column(Integer)  # the list whose unsubscribe link it carries
    status: Mapped[str] = mapped_column(String(12), default=DeliveryStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The batch that holds the row: every result and release matches on it, so a batch
    # whose lease ran out and was taken over writes nothing.
    claim_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # When the reader's server first said "later"; past the retry window the row fails.
    deferred_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_reply: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
