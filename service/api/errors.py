"""Every answer under ``/api`` is JSON, errors included: ``{"code", "status", "message",
"errors"}``. Public pages keep their HTML error pages."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask_smorest import Api
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Response

API_PREFIX = "/api"
# Sent with every 401: how to authenticate (RFC 6750).
WWW_AUTHENTICATE = 'Bearer realm="newsletter-api"'


def is_api_request() -> bool:
    return request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")


# Messages for errors the site's own handlers answer (they are worded for pages).
MESSAGES = {
    400: "bad request",
    404: "nothing at this address",
    429: "too many requests: wait a little and try again",
}


def api_error(status: int, message: str = "", errors: dict[str, Any] | None = None,
              headers: dict[str, str] | None = None) -> Response:
    message = message or MESSAGES.get(status) or HTTP_STATUS_CODES.get(status, "error")
    body: dict[str, Any] = {"code": status, "status": HTTP_STATUS_CODES.get(status, "Error"),
                            "message": message}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def json_error(error: HTTPException) -> Response:
    """An HTTP error as the API answers it: the message given to ``abort``, else a plain one."""
    data = getattr(error, "data", None) or {}
    errors = data.get("errors") or data.get("messages")
    headers = {name: value for name, value in error.get_headers() if name.lower() == "allow"}
    headers.update(data.get("headers") or {})
    message = data.get("message") or _message(error, errors)
    return api_error(error.code or 500, message, errors, headers)


class JsonErrorApi(Api):
    """flask-smorest's Api with its app-wide error handler limited to /api paths."""

    def handle_http_exception(self, error: HTTPException) -> Any:  # type: ignore[override]
        if not is_api_request():
            return error  # werkzeug's own page, as before the API existed
        return json_error(error)


def _message(error: HTTPException, errors: Any) -> str:
    if error.code == 422 and errors:
        return "the request does not match the schema; see errors"
    if error.code == 500:
        return "internal error"  # never an exception's text
    if error.code in MESSAGES and error.code != 400:
        return f"{MESSAGES[error.code]} ({error.description})" if error.code == 429 else MESSAGES[error.code]
    return error.description or HTTP_STATUS_CODES.get(error.code or 500, "error")
