"""The API page under ``/admin/api``: API tokens (made here or by ``newsletter api-tokens``,
shown once) and outgoing webhook endpoints with their delivery log. Admins only."""

from __future__ import annotations

import logging

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from service.admin import auth
from service.admin.models import ROLES
from service.admin.views import blueprint
from service.api.tokens import TokenError, create_token, list_tokens, revoke_token
from service.webhooks.endpoints import (
    LOG_PAGE,
    MAX_ID,
    EndpointError,
    create_endpoint,
    delete_endpoint,
    list_endpoints,
    recent_deliveries,
    retry_delivery,
    set_active,
)
from service.webhooks.models import WEBHOOK_EVENTS

audit = logging.getLogger("service.admin.audit")


def _db():  # type: ignore[no-untyped-def]
    return current_app.extensions["db"]


def _small(value: int | None) -> int | None:
    """A query id the database can compare (a larger one names nothing)."""
    return value if value is None or abs(value) <= MAX_ID else MAX_ID


def _index(error: str = "", status: int = 200) -> tuple[str, int]:
    with _db().session() as session:
        tokens, endpoints = list_tokens(session), list_endpoints(session)
    base = current_app.config["NEWSLETTER"].base_url.rstrip("/")
    return render_template("admin/api_index.html", tokens=tokens, endpoints=endpoints,
                           roles=ROLES, events=WEBHOOK_EVENTS, error=error,
                           api_url=base + "/api"), status


@blueprint.get("/api")
@auth.require_role("admin")
def api_index() -> tuple[str, int]:
    return _index()


@blueprint.post("/api/tokens")
@auth.require_role("admin")
def api_token_create() -> tuple[str, int]:
    name, role = request.form.get("name", ""), request.form.get("role", "")
    try:
        with _db().session() as session:
            row, token = create_token(session, name, role, created_by=current_user.email)
            shown = {"id": row.id, "name": row.name, "role": row.role}
    except TokenError as exc:
        return _index(str(exc), 400)
    audit.info("admin %s created %s API token %s", current_user.email, role, shown["id"])
    # The only time the token is ever shown: the page is not stored (Cache-Control: no-store).
    return render_template("admin/api_created.html", kind="token", item=shown, secret=token), 200


@blueprint.post("/api/tokens/<int:token_id>/revoke")
@auth.require_role("admin")
def api_token_revoke(token_id: int) -> Response:
    try:
        with _db().session() as session:
            name = revoke_token(session, token_id).name
    except TokenError:
        abort(404)
    audit.info("admin %s revoked API token %s", current_user.email, token_id)
    flash(f"Token {name} revoked: requests with it are refused from now on.")
    return redirect(url_for("admin.api_index"))


@blueprint.post("/api/webhooks")
@auth.require_role("admin")
def api_webhook_create() -> tuple[str, int]:
    url, events = request.form.get("url", ""), request.form.getlist("events")
    try:
        with _db().session() as session:
            row, secret = create_endpoint(
                session, url, events,
                allow_private=current_app.config["NEWSLETTER"].webhook_allow_private)
            shown = {"id": row.id, "url": row.url, "events": row.events}
    except EndpointError as exc:
        return _index(str(exc), 400)
    audit.info("admin %s added webhook endpoint %s", current_user.email, shown["id"])
    return render_template("admin/api_created.html", kind="webhook", item=shown, secret=secret), 200


@blueprint.post("/api/webhooks/<int:endpoint_id>/<any(enable, disable, delete):action>")
@auth.require_role("admin")
def api_webhook_change(endpoint_id: int, action: str) -> Response:
    try:
        with _db().session() as session:
            if action == "delete":
                delete_endpoint(session, endpoint_id)
            else:
                set_active(session, endpoint_id, action == "enable")
    except EndpointError:
        abort(404)
    audit.info("admin %s: webhook endpoint %s %s", current_user.email, endpoint_id, action)
    flash(f"Webhook endpoint {endpoint_id}: {action}d.")
    return redirect(url_for("admin.api_index"))


@blueprint.get("/api/webhooks/deliveries")
@auth.require_role("admin")
def api_webhook_deliveries() -> str:
    endpoint = _small(request.args.get("endpoint", type=int))
    before = _small(request.args.get("before", type=int))
    with _db().session() as session:
        rows = recent_deliveries(session, endpoint, before)
    older = rows[-1].id if len(rows) == LOG_PAGE else None
    return render_template("admin/api_deliveries.html", rows=rows, endpoint=endpoint,
                           older=older)


@blueprint.post("/api/webhooks/deliveries/<int:delivery_id>/retry")
@auth.require_role("admin")
def api_webhook_retry(delivery_id: int) -> Response:
    with _db().session() as session:
        retried = retry_delivery(session, delivery_id)
    flash(f"Delivery {delivery_id} queued again." if retried
          else f"Delivery {delivery_id} has not failed: nothing to retry.")
    return redirect(url_for("admin.api_webhook_deliveries"))
