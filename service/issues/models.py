"""The render store: compiled emails kept by content hash, so each version renders once."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, UTCDateTime


class CompiledIssue(Base):
    """One rendered version of an issue. The hash covers the source, layout and settings."""

    __tablename__ = "compiled_issue"

    content_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), index=True)
    title: Mapped[str] = mapped_column(Text)
    issue_date: Mapped[str] = mapped_column(String(10))
    subject: Mapped[str] = mapped_column(Text)
    preheader: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    tokens: Mapped[str] = mapped_column(Text)  # JSON: slot name → placeholder
    created_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime(), server_default=func.now()
    )
