"""Bearer-token authentication for the API's blueprints, and its role check.

Each API blueprint calls :func:`protect`; ``/api/subscribe`` (the public signup endpoint)
and ``/api/openapi.json`` belong to other blueprints and need no token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, g, request
from flask_smorest import Blueprint, abort

from service.api.tokens import TokenIdentity, authenticate
from service.roles import role_required

BEARER = "bearer "


def presented_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[: len(BEARER)].lower() != BEARER:
        return None
    return header[len(BEARER):].strip() or None


def presented_identity() -> TokenIdentity | None:
    """Whom the presented token names, if anyone: looked up once per request, as both the
    rate limit's key and the authentication ask."""
    if "api_identity" not in g:
        token = presented_token()
        identity = None
        if token is not None:
            with current_app.extensions["db"].session() as session:
                identity = authenticate(session, token)
        g.api_identity = identity
    return g.api_identity


def _authenticate() -> None:
    if presented_token() is None:
        abort(401, message="send an API token: Authorization: Bearer <token>")
    identity = presented_identity()
    if identity is None:
        # One answer for unknown, malformed and revoked tokens: nothing to probe.
        abort(401, message="the API token is not valid (unknown or revoked)")
    g.api_token = identity


def protect(blueprint: Blueprint) -> Blueprint:
    blueprint.before_request(_authenticate)
    return blueprint


def current_token() -> TokenIdentity:
    return g.api_token


def _refusal(role: str) -> None:
    if not current_token().allows(role):
        abort(403, message=f"this needs an {role} token")


def require_role(role: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A view decorator: the token's role must be at least ``role`` (else 403)."""
    return role_required(role, _refusal)
