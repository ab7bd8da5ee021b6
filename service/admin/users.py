"""Admin users as a service: create them, check a login, end their sessions. No Flask here, so
the command line and the pages share it and plain tests can call it."""

from __future__ import annotations

import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.admin.models import ROLES, AdminUser, new_session_token
from service.db import utcnow

MIN_PASSWORD_LENGTH = 12
# Argon2 pre-hashes its input, but a megabyte of "password" still costs time per attempt.
MAX_PASSWORD_LENGTH = 1024

_hasher = PasswordHasher()  # argon2id with the library's recommended costs


class AdminUserError(ValueError):
    """An admin user cannot be created as asked."""


def normalize_email(email: str) -> str:
    """The form admin emails are stored and looked up in."""
    return email.strip().lower()


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AdminUserError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AdminUserError(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    # Made on first use rather than at import; a hash of a password nobody knows, with the same
    # costs as real ones, verified for unknown emails so they take as long as a wrong password.
    return hash_password(secrets.token_urlsafe(32))


def create_admin_user(session: Session, email: str, role: str, password: str) -> AdminUser:
    if role not in ROLES:
        raise AdminUserError(f"the role must be one of {', '.join(ROLES)}, not {role!r}")
    check_password(password)
    try:
        address = normalize_email(validate_email(email, check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise AdminUserError(f"{email!r} is not an email address: {exc}") from None
    if session.scalar(select(AdminUser.id).where(AdminUser.email == address)) is not None:
        raise AdminUserError(f"an admin user {address} already exists")
    user = AdminUser(email=address, role=role, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, email: str, password: str) -> AdminUser | None:
    """The active user with this email and password, else None.

    Every outcome costs one argon2 verification (an unknown email verifies a dummy hash), so
    neither the answer nor its time tells whether an email has an account.
    """
    dummy = _dummy_hash()  # the first call pays for it whichever branch follows
    user = session.scalar(select(AdminUser).where(AdminUser.email == normalize_email(email)))
    too_long = len(password) > MAX_PASSWORD_LENGTH  # still verified, cut, for the same time
    matches = verify_password(user.password_hash if user else dummy, password[:MAX_PASSWORD_LENGTH])
    if user is None or too_long or not matches or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):  # the costs were raised since
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    return user


def end_sessions(session: Session, user_id: int) -> None:
    """Void every session of this user, on every device (their cookies carry the old token)."""
    user = session.get(AdminUser, user_id)
    if user is not None:
        user.session_token = new_session_token()


def list_admin_users(session: Session) -> list[AdminUser]:
    return list(session.scalars(select(AdminUser).order_by(AdminUser.email)))
