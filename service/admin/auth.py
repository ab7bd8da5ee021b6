"""Who is logged in to the admin console: Flask-Login sessions, roles, and where a login
returns to."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, redirect, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from werkzeug.wrappers import Response

from service.admin.models import AdminUser
from service.roles import role_allows, role_required

# Where a login may send the browser afterwards: admin pages of this site only.
NEXT_PREFIX = "/admin"
MAX_NEXT_LENGTH = 2000
# Where the session keeps the time of the login, in seconds since the epoch.
LOGIN_TIME_KEY = "admin_login_at"
# How long a process trusts what it read of the user a session cookie names. The progress
# page polls every second and reading the user was half of each poll's time; a logout in
# another process, a role change or a deactivation reaches this one within this time.
IDENTITY_SECONDS = 1.0
IDENTITY_CACHE_SIZE = 1024
_clock = time.monotonic


@dataclass(frozen=True, eq=False)
class AdminIdentity(UserMixin):
    """The logged-in user as the request sees it: a plain value, not a database row."""

    id: int
    email: str
    role: str
    session_token: str

    def get_id(self) -> str:
        # What the session cookie stores: the id and the user's current session token.
        return f"{self.id}:{self.session_token}"

    def allows(self, role: str) -> bool:
        return role_allows(self.role, role)


def identity_of(user: AdminUser) -> AdminIdentity:
    return AdminIdentity(user.id, user.email, user.role, user.session_token)


# session id → (trusted until, on the monotonic clock; the identity). Only users found are
# kept, so a cookie that names no one is read from the database each time, as before.
_identities: dict[str, tuple[float, AdminIdentity]] = {}


def load_identity(session_id: str) -> AdminIdentity | None:
    """The user a session cookie names, if they are active and the session was not ended."""
    now = _clock()
    known = _identities.get(session_id)
    if known is not None and known[0] > now:
        return known[1]
    user_id, _, token = session_id.partition(":")
    if not user_id.isdigit() or not token:
        return None
    with current_app.extensions["db"].session() as db_session:
        user = db_session.get(AdminUser, int(user_id))
    if user is None or not user.active:
        return None
    if not hmac.compare_digest(user.session_token.encode(), token.encode()):
        return None
    if len(_identities) >= IDENTITY_CACHE_SIZE:
        _identities.clear()
    identity = identity_of(user)
    _identities[session_id] = (now + IDENTITY_SECONDS, identity)
    return identity


def forget_identities() -> None:
    """After a logout here: its cookie is refused at once in this process."""
    _identities.clear()


def safe_next(target: str | None) -> str:
    """``target`` when it is an admin page of this site, else the dashboard: a login link
    must never send the browser to another host (an open redirect)."""
    fallback = url_for("admin.dashboard")
    if not target or len(target) > MAX_NEXT_LENGTH or not target.startswith(NEXT_PREFIX):
        return fallback
    # Browsers read a backslash as a slash and drop tabs and newlines: refuse them outright.
    if any(char == "\\" or ord(char) < 32 or ord(char) == 127 for char in target):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return fallback
    return target


def redirect_to_login() -> Response:
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("admin.login", next=target))


def start_session(user: AdminUser) -> None:
    """Log ``user`` in on a fresh session: nothing set before the login survives it (no
    session fixation), and the form token is new too."""
    session.clear()
    login_user(identity_of(user))
    session[LOGIN_TIME_KEY] = int(time.time())


def session_expired(max_hours: int) -> bool:
    """Whether this login is older than ``max_hours``: the cookie is signed, not stored, so
    its age is the only bound on a copy of it besides logging out."""
    started = session.get(LOGIN_TIME_KEY)
    return not isinstance(started, int) or time.time() - started > max_hours * 3600


def stop_session() -> None:
    forget_identities()
    logout_user()
    session.clear()


def _refusal(role: str) -> Response | None:
    if not current_user.is_authenticated:
        return redirect_to_login()
    if not current_user.allows(role):
        abort(403)
    return None


def require_role(role: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A view decorator: login required, and a role at least ``role`` (403 otherwise)."""
    return role_required(role, _refusal)


def init_login(app: Flask) -> LoginManager:
    manager = LoginManager()
    manager.user_loader(load_identity)
    manager.unauthorized_handler(redirect_to_login)
    # No app-wide context processor: it would read the session on every public page (and
    # add "Vary: Cookie" to cached archive pages). The admin blueprint adds its own.
    manager.init_app(app, add_context_processor=False)
    # Its remember-me hook looks into the session after every response, which marks public
    # pages "Vary: Cookie"; the console has no remember-me cookie, so it needs no hook.
    app.after_request_funcs[None].remove(manager._update_remember_cookie)
    return manager
