"""The admin console's table: the people who may log in to ``/admin``."""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import Boolean, CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, UTCDateTime, utcnow

# editor: preview and test-send; admin: everything. Ordered from least to most allowed.
ROLES = ("editor", "admin")


def new_session_token() -> str:
    return secrets.token_urlsafe(24)


class AdminUser(Base):
    """One admin console login, with an argon2 password hash (never the password)."""

    __tablename__ = "admin_user"
    __table_args__ = (CheckConstraint("role IN ('editor', 'admin')", name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-cased
    role: Mapped[str] = mapped_column(String(10))
    password_hash: Mapped[str] = mapped_column(String(255))
    # Sessions are signed cookies, not server-side rows, so each one carries this token and
    # is void once it changes: logging out replaces it, which ends every copy of the cookie.
    session_token: Mapped[str] = mapped_column(String(64), default=new_session_token)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
