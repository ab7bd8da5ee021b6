"""The admin console's pages under ``/admin``. Thin: they call service.admin.users,
service.admin.issues_state and the auth helpers."""

from __future__ import annotations

import importlib
from typing import Any

from flask import Blueprint, Flask, abort, current_app, redirect, render_template, request, url_for
from flask_limiter import Limiter
from flask_login import current_user
from flask_wtf import FlaskForm
from limits import parse_many
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField

from service.admin import auth
from service.admin.dashboard import ChartCache, send_warnings, service_warnings
from service.admin.users import authenticate, end_sessions, list_admin_users, normalize_email
from service.config import Config, ConfigError
from service.subscribers.links import MAX_ID
from service.web import CONTENT_SECURITY_POLICY

# Vendored scripts (htmx, Chart.js) are served from here: the pages load nothing from
# other hosts.
blueprint = Blueprint(
    "admin", __name__, url_prefix="/admin", static_folder="static", static_url_path="/static"
)
# The only admin endpoints a visitor without a session may reach.
OPEN_ENDPOINTS = {"admin.login", "admin.static"}
# Modules that add their pages to the blueprint when imported; init_admin imports them before
# it registers the blueprint.
PAGE_MODULES: tuple[str, ...] = (
    "service.admin.issue_pages",
    "service.admin.reader_pages",
    "service.admin.list_pages",
    "service.admin.import_pages",
    "service.admin.send_pages",
    "service.admin.sends_pages",
    "service.admin.report_pages",
    "service.admin.api_pages",
)
# The site's policy, plus scripts from this site only (the vendored files; never inline).
ADMIN_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY + "; script-src 'self'; connect-src 'self'"


class LoginForm(FlaskForm):
    # The template never echoes the typed email back: the page is then the same, byte for
    # byte, for an unknown email and a wrong password.
    email = StringField("Email")
    password = PasswordField("Password")


class LogoutForm(FlaskForm):
    """Only its CSRF token: logging out is a POST that another site cannot make."""


@blueprint.url_value_preprocessor
def ids_in_range(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    """An id in the path past the id columns' range names nothing: 404, before a query that
    neither database could bind (an integer that large overflows SQLite's and PostgreSQL's)."""
    if values and any(isinstance(value, int) and value > MAX_ID for value in values.values()):
        abort(404)


@blueprint.before_request
def require_login() -> Response | None:
    if request.endpoint in OPEN_ENDPOINTS or _logged_in():
        return None
    return auth.redirect_to_login()


def _logged_in() -> bool:
    """Whether a user is logged in; a login past its hours is ended here."""
    if not current_user.is_authenticated:
        return False
    if auth.session_expired(current_app.config["NEWSLETTER"].admin_session_hours):
        auth.stop_session()
        return False
    return True


@blueprint.after_request
def private(response: Response) -> Response:
    # Admin pages show readers' data and hold form tokens: never stored by a cache. The
    # vendored scripts never change under their versioned names, so a browser may keep them.
    if request.endpoint == "admin.static":
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response
    response.headers["Cache-Control"] = "no-store"
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", ADMIN_CONTENT_SECURITY_POLICY)
    return response


@blueprint.context_processor
def admin_context() -> dict[str, Any]:
    return {"current_user": current_user, "logout_form": LogoutForm()}


@blueprint.errorhandler(403)
def forbidden(_error: Any) -> tuple[str, int]:
    return render_template("admin/forbidden.html"), 403


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int]:
    form = LoginForm()
    target = auth.safe_next(request.values.get("next"))
    if request.method == "GET" and _logged_in():
        return redirect(target)
    failed = False
    if request.method == "POST":
        db = current_app.extensions["db"]
        with db.session() as session:
            user = authenticate(session, form.email.data or "", form.password.data or "")
            if user is not None:
                auth.start_session(user)
                return redirect(target)
        failed = True
    return render_template("admin/login.html", form=form, next=target, failed=failed), 200


@blueprint.post("/logout")
def logout() -> Response:
    with current_app.extensions["db"].session() as session:
        end_sessions(session, current_user.id)
    auth.stop_session()
    return redirect(url_for("admin.login"))


@blueprint.get("/")
@auth.require_role("editor")
def dashboard() -> str:
    """Charts and the last sends' rates (cached a minute), and the warnings (fresh)."""
    db, config = current_app.extensions["db"], current_app.config["NEWSLETTER"]
    charts = current_app.extensions.get("admin_charts")
    if charts is None:
        charts = current_app.extensions["admin_charts"] = ChartCache(db)
    chart_figures, sends = charts.get()
    with db.session() as session:
        warnings = send_warnings(session, sends)
    warnings += service_warnings(db, config)
    return render_template("admin/dashboard.html", charts=chart_figures, sends=sends,
                           warnings=warnings)


@blueprint.get("/users")
@auth.require_role("admin")
def users() -> str:
    with current_app.extensions["db"].session() as session:
        admin_users = list_admin_users(session)
    return render_template("admin/users.html", users=admin_users)


def attempted_account() -> str:
    """The rate-limit key of a login's second budget: the email typed, known or not."""
    return "account:" + normalize_email(request.form.get("email", ""))[:320]


def init_admin(app: Flask, config: Config, limiter: Limiter) -> None:
    """Register the console with login sessions and the login's two rate limits."""
    for name in ("admin_login_rate_limit", "admin_login_account_rate_limit"):
        try:
            parse_many(getattr(config, name))
        except ValueError:
            raise ConfigError(
                f"NEWSLETTER_{name.upper()} must read like '10/minute;50/hour'"
            ) from None
    if config.admin_session_hours < 1:
        raise ConfigError("NEWSLETTER_ADMIN_SESSION_HOURS must be 1 or more")
    auth.init_login(app)
    for name in PAGE_MODULES:
        importlib.import_module(name)
    app.register_blueprint(blueprint)
    per_ip = limiter.shared_limit(
        config.admin_login_rate_limit, scope="admin-login-ip", methods=["POST"]
    )
    per_account = limiter.shared_limit(
        config.admin_login_account_rate_limit, scope="admin-login-account", methods=["POST"],
        key_func=attempted_account,
    )
    app.view_functions["admin.login"] = per_ip(per_account(app.view_functions["admin.login"]))
