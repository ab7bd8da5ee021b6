"""Web plumbing: proxies, CSRF, rate limits, languages, security headers, error pages,
blueprints, services."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, render_template
from flask_babel import gettext as _
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFError, CSRFProtect
from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from redis.exceptions import RedisError
from werkzeug.middleware.proxy_fix import ProxyFix

from service.api.errors import is_api_request, json_error
from service.config import Config
from service.i18n import init_babel
from service.issues.compile import IssueRenderer
from service.mail.outbox import OutboxRelay
from service.mail.transport import parse_smtp_urls
from service.ops import init_ops
from service.subscribers.emails import TransactionalEmails
from service.subscribers.links import LinkBuilder
from service.subscribers.services import SubscriberService
from service.subscribers.signups import SignupRelay
from service.tokens import TokenSigner

log = logging.getLogger(__name__)

# Every HTML page: no script at all, styles inline, images from anywhere (issues link them),
# forms only to this site, and no framing by another site (clickjacking).
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "img-src * data:",
    "media-src *",
    "style-src 'unsafe-inline'",
    "frame-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
])
# A limit check waits this long for Redis before the process counts on its own.
REDIS_LIMIT_TIMEOUTS = {"socket_connect_timeout": 1, "socket_timeout": 1}
# Endpoints that take a POST which signs someone up or mails someone: one per-IP budget.
SIGNUP_ENDPOINTS = ("subscribers.subscribe", "subscribers.api_subscribe", "subscribers.renew")


def init_web(app: Flask, config: Config, renderer: IssueRenderer) -> None:
    if config.proxy_count:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.proxy_count, x_proto=config.proxy_count)  # type: ignore[method-assign]
    init_babel(app, config.instance_dir)
    csrf = CSRFProtect(app)
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=config.redis_url or "memory://",
        # Redis away: every limit is counted in this process until Redis answers again,
        # rather than every rate-limited page answering 500.
        in_memory_fallback_enabled=True,
        storage_options=REDIS_LIMIT_TIMEOUTS if config.redis_url else {},
        strategy="moving-window",
        key_prefix="newsletter-limits",
        headers_enabled=True,
    )

    links = LinkBuilder(config.base_url, TokenSigner.from_config(config), config.inbound_domain)
    emails = TransactionalEmails(config, renderer)
    service = SubscriberService(config, emails, links)
    outbox = OutboxRelay(app.extensions["db"], parse_smtp_urls(config.smtp_url))
    app.extensions["subscribers"] = service
    app.extensions["outbox"] = outbox
    app.extensions["signups"] = SignupRelay(app.extensions["db"], service, on_mail=outbox.kick)

    address_limits = parse_many(config.signup_address_rate_limit)
    in_process = MovingWindowRateLimiter(MemoryStorage())

    def address_allowed(key: str) -> bool:
        try:
            strategy = limiter.limiter
            return all([strategy.hit(item, "signup-address", key) for item in address_limits])
        except RedisError:  # counted here until Redis is back, as the limiter does
            log.warning("signup address limit counted in this process: Redis is away")
            return all([in_process.hit(item, "signup-address", key) for item in address_limits])

    app.extensions["newsletter.address_limit"] = address_allowed

    from service.archive.views import blueprint as archive_blueprint
    from service.subscribers.views import blueprint as subscribers_blueprint

    app.register_blueprint(archive_blueprint)
    app.register_blueprint(subscribers_blueprint)
    if config.dev_inbox and not config.is_production:
        from service.devinbox import blueprint as devinbox_blueprint

        app.register_blueprint(devinbox_blueprint)

    # Bounce webhooks: each request is verified by the provider's signature, never by a
    # CSRF token or a cookie.
    from service.bounces.views import blueprint as bounces_blueprint
    from service.bounces.views import init_webhooks

    init_webhooks(app, config)
    csrf.exempt(bounces_blueprint)

    # One budget per IP shared by every endpoint that signs up or sends mail: a scope of its own
    # per endpoint would let each allow the whole rate.
    signup_limit = limiter.shared_limit(config.signup_rate_limit, scope="signup", methods=["POST"])
    for endpoint in SIGNUP_ENDPOINTS:
        app.view_functions[endpoint] = signup_limit(app.view_functions[endpoint])
    # The signed token is the credential of these POSTs; other sites post to the API.
    csrf.exempt(app.view_functions["subscribers.unsubscribe"])
    csrf.exempt(app.view_functions["subscribers.api_subscribe"])

    # The admin console (service/admin/): login sessions, roles, its pages; CSRF as above.
    from service.admin.views import init_admin

    init_admin(app, config, limiter)
    init_ops(app, config)  # /healthz, /readyz, /metrics (service/ops/), the log format

    # The REST API (service/api/): bearer tokens, JSON errors, /api/openapi.json.
    from service.api.setup import init_api

    init_api(app, config, csrf, limiter)

    app.after_request(security_headers)

    def page(title: str, message: str, status: int) -> tuple[str, int]:
        return render_template("site/error.html", title=title, message=message), status

    @app.errorhandler(404)
    def not_found(error: Any) -> Any:
        if is_api_request():  # under /api every answer is JSON, errors included
            return json_error(error)
        return page(_("Page not found"), _("There is nothing at this address."), 404)

    @app.errorhandler(429)
    def too_many(error: Any) -> Any:
        if is_api_request():
            return json_error(error)
        return page(_("Too many requests"), _("Please wait a little and try again."), 429)

    @app.errorhandler(CSRFError)
    def csrf_failed(_error: Any) -> tuple[str, int]:
        return page(
            _("Form expired"),
            _("The form expired or was sent twice. Go back, reload the page and try again."),
            400,
        )


def security_headers(response: Response) -> Response:
    """Headers for every response; a page that set its own policy (an SVG asset, a dev inbox
    message shown sandboxed in a frame) keeps it."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if response.mimetype == "text/html" and "Content-Security-Policy" not in response.headers:
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response
