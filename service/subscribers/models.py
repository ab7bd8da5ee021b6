"""Lists, subscribers, their subscriptions, and the log of every change to them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.db import Base, UTCDateTime, utcnow

# A subscriber's own state: whether mail may reach the address at all.
SUBSCRIBER_STATUSES = ("pending", "confirmed", "unsubscribed", "bounced", "complained", "blocklisted")
# States in which nothing is ever sent and a new signup is quietly ignored.
SUPPRESSED_STATUSES = frozenset({"bounced", "complained", "blocklisted"})
# A subscription's state: whether this list may be sent to this subscriber.
SUBSCRIPTION_STATUSES = ("pending", "confirmed", "unsubscribed")


class MailingList(Base):
    __tablename__ = "mailing_list"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(10), default="zh-CN")
    double_opt_in: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The list's own From and Reply-To ("" = the NEWSLETTER_MAIL_FROM / _REPLY_TO settings):
    # a send to lists that all name the same sender goes out from it.
    sender: Mapped[str] = mapped_column(String(400), default="", server_default="")
    reply_to: Mapped[str] = mapped_column(String(400), default="", server_default="")
    # The schedule a send to this list starts from: a time zone ("" = NEWSLETTER_TIMEZONE),
    # a weekday (0 = Monday; None = any day) and a time of day "HH:MM" ("" = none).
    timezone: Mapped[str] = mapped_column(String(64), default="", server_default="")
    send_weekday: Mapped[int | None] = mapped_column(Integer, nullable=True)
    send_time: Mapped[str] = mapped_column(String(5), default="", server_default="")


class Subscriber(Base):
    __tablename__ = "subscriber"
    # The admin's reader list: by status, newest first; by a prefix of the address or the
    # name (service/admin/readers_query.py). On PostgreSQL migration 0009 makes the two search
    # indexes in the "C" collation, so a prefix is one range of the index whatever the
    # database's locale; SQLite compares bytes already.
    __table_args__ = (
        Index("ix_subscriber_status_id", "status", "id"),
        Index("ix_subscriber_email_key_c", "email_key"),
        Index("ix_subscriber_name_id", "name", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    # The address in lower case: one subscriber per address, whatever its case.
    email_key: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    status_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status_source: Mapped[str] = mapped_column(String(50), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Consent: where and when the address was given, and where and when it was confirmed.
    source: Mapped[str] = mapped_column(String(50), default="")
    signup_ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    signup_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    confirm_ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    confirmation_sent_at: Mapped[dt.datetime | None] = mapped_column(
        UTCDateTime(), nullable=True
    )

    subscriptions: Mapped[list[Subscription]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan", passive_deletes=True
    )


class Subscription(Base):
    __tablename__ = "subscription"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "list_id"),
        Index("ix_subscription_list_id", "list_id", "subscriber_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscriber.id", ondelete="CASCADE"))
    # Indexed with the subscriber (migration 0009) for the admin's reader list filtered by a
    # list: without it, a page of a small list walks most readers. Every imported row pays
    # for the index (measured before: about a fifth of the insert time).
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_list.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    source: Mapped[str] = mapped_column(String(50), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    subscriber: Mapped[Subscriber] = relationship(back_populates="subscriptions")
    mailing_list: Mapped[MailingList] = relationship()


class SubscriberEvent(Base):
    """One change: signup, confirm, unsubscribe, import, preferences... with who and where."""

    __tablename__ = "subscriber_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscriber.id", ondelete="CASCADE"), index=True
    )
    list_id: Mapped[int | None] = mapped_column(
        ForeignKey("mailing_list.id", ondelete="SET NULL"), nullable=True
    )
    kind: Mapped[str] = mapped_column(String(30))
    source: Mapped[str] = mapped_column(String(50), default="")
    ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SignupRequest(Base):
    """A signup that the web request only validated and wrote down.

    The request answers at once, whatever the address; a background relay (and beat's sweep)
    does the work that differs between a known and a new address, so the answer's timing
    tells nothing. The row is deleted in the transaction that processes it.
    """

    __tablename__ = "signup_request"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_list.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    email_key: Mapped[str] = mapped_column(String(320), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(50), default="")
    ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
