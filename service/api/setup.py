"""Wire the REST API into the app: flask-smorest, its OpenAPI document at /api/openapi.json,
the resources' blueprints (token-protected, CSRF-exempt: no cookies), a per-token rate limit,
and the hint that wakes the webhook deliverer after a commit."""

from __future__ import annotations

import logging

from flask import Flask, Response, g
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.exc import SQLAlchemyError

from service.api import lists_views, sends_views, subscribers_views
from service.api.auth import presented_identity
from service.api.errors import JsonErrorApi
from service.config import Config, ConfigError
from service.queue import enqueue
from service.webhooks import outbox
from service.webhooks.delivery import DELIVER_WEBHOOKS

API_BLUEPRINTS = (lists_views.blueprint, subscribers_views.blueprint, sends_views.blueprint)
SECURITY_SCHEMES = {"bearerAuth": {"type": "http", "scheme": "bearer",
                                   "description": "newsletter api-tokens create NAME --role ..."}}
log = logging.getLogger(__name__)


def rate_limit_key() -> str:
    """One budget per valid token (by its id), and one per client IP for every request without
    one (none, unknown, malformed or revoked): made-up tokens share their sender's budget.

    Flask-Limiter checks a blueprint's limits in an app-wide before_request, which runs before
    the blueprint's own authentication, so the token is looked up here (once per request:
    the authentication reuses it)."""
    if "api_limit_key" not in g:
        g.api_limit_key = _limit_key()
    return g.api_limit_key


def _limit_key() -> str:
    identity = None
    try:
        identity = presented_identity()
    except SQLAlchemyError as exc:
        # Counted by IP; raised here, the limiter would take it for its own storage failing.
        log.warning("API rate limit keyed by IP: the token lookup failed: %s", exc)
    if identity is not None:
        return f"api-token:{identity.id}"
    return "api-ip:" + (get_remote_address() or "")


def no_store(response: Response) -> Response:
    """Readers' data and tokens' answers are never kept by a cache on the way."""
    response.headers["Cache-Control"] = "no-store"
    return response


def init_api(app: Flask, config: Config, csrf: CSRFProtect, limiter: Limiter) -> JsonErrorApi:
    from limits import parse_many

    try:
        parse_many(config.api_rate_limit)
    except ValueError:
        raise ConfigError("NEWSLETTER_API_RATE_LIMIT must read like '600/minute'") from None
    if not 0 < config.webhook_timeout_seconds <= 60:
        raise ConfigError("NEWSLETTER_WEBHOOK_TIMEOUT_SECONDS must be more than 0 and at most 60")
    if config.webhook_retention_days < 1:
        raise ConfigError("NEWSLETTER_WEBHOOK_RETENTION_DAYS must be 1 or more")
    app.config.update(
        API_TITLE="Newsletter API",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": SECURITY_SCHEMES},
            "security": [{"bearerAuth": []}],
            "servers": [{"url": "/"}],
        },
    )
    api = JsonErrorApi(app)
    per_token = limiter.shared_limit(config.api_rate_limit, scope="api", key_func=rate_limit_key)
    for blueprint in API_BLUEPRINTS:
        if no_store not in blueprint.after_request_funcs.get(None, []):
            blueprint.after_request(no_store)
        per_token(blueprint)
        api.register_blueprint(blueprint)
        csrf.exempt(blueprint)  # a bearer token, never a cookie, authenticates these requests
    outbox.set_notifier(lambda: enqueue(config, DELIVER_WEBHOOKS))
    return api
