"""Make, find, list and revoke API tokens. Only a token's SHA-256 hash is stored.

A token is ``nl_`` + 32 random bytes (URL-safe base64): far too much entropy to guess, so
one unsalted hash is enough, and it lets a request's token be found by an index lookup
instead of compared byte by byte with every stored secret.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from service.admin.models import ROLES
from service.api.models import ApiToken
from service.db import utcnow
from service.roles import role_allows

TOKEN_PREFIX = "nl_"
TOKEN_BYTES = 32
PREFIX_SHOWN = 10  # "nl_" and 7 characters: enough to tell tokens apart in a list
MAX_NAME = 100
MAX_ID = 2**31 - 1  # the id column's largest value
MAX_TOKEN_LENGTH = 200  # longer text cannot be one of ours; not worth hashing
# last_used_at is written at most this often per token: a busy client costs no write per call.
TOUCH_INTERVAL = dt.timedelta(minutes=1)


class TokenError(ValueError):
    """A token cannot be made or changed this way; the message says why."""


@dataclass(frozen=True)
class TokenIdentity:
    """Who a request is: a plain value the views can keep after the session closes."""

    id: int
    name: str
    role: str

    def allows(self, role: str) -> bool:
        return role_allows(self.role, role)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: Session, name: str, role: str, created_by: str = "") -> tuple[ApiToken, str]:
    """A new token: the row, and the token itself, which is never seen again."""
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME:
        raise TokenError(f"a token needs a name of 1 to {MAX_NAME} characters")
    if role not in ROLES:
        raise TokenError(f"role must be one of {', '.join(ROLES)}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    row = ApiToken(name=name, role=role, token_hash=hash_token(token),
                   prefix=token[:PREFIX_SHOWN], created_by=created_by[:320])
    session.add(row)
    session.flush()
    return row, token


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke_token(session: Session, token_id: int) -> ApiToken:
    """Revoke a token at once; revoking twice keeps the first time."""
    row = session.get(ApiToken, token_id) if 0 < token_id <= MAX_ID else None
    if row is None:
        raise TokenError(f"no API token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


def authenticate(session: Session, token: str) -> TokenIdentity | None:
    """The identity a presented token belongs to, or None (unknown, malformed or revoked)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
        return None
    row = session.scalars(
        select(ApiToken).where(ApiToken.token_hash == hash_token(token))
    ).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_INTERVAL:
        # Conditional, so two requests at once write once, and only once a minute at most.
        session.execute(
            update(ApiToken)
            .where(ApiToken.id == row.id,
                   or_(ApiToken.last_used_at.is_(None),
                       ApiToken.last_used_at < now - TOUCH_INTERVAL))
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
    return TokenIdentity(row.id, row.name, row.role)
