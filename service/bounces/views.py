"""Provider webhooks: ``POST /webhooks/<provider>``. Thin: verify, then hand the events over.

Every request is verified before anything is believed (``service.bounces.webhooks``); one that
fails gets 400 or 401 and changes nothing. A provider without credentials configured is not
there at all (404). Verified events are recorded once each (by provider and event id), so a
provider's retry is harmless; a storage failure answers 500 so that the provider retries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from service.bounces.events import Bounces, handle_provider_events
from service.bounces.webhooks import (
    FetchFailed,
    MemoryReplayStore,
    RedisReplayStore,
    WebhookRejected,
    confirm_subscription,
    fetch_url,
    parse_ses,
    verify_generic,
    verify_mailgun,
    verify_postmark,
    verify_sendgrid,
    verify_sns,
)
from service.config import Config
from service.db import utcnow

log = logging.getLogger(__name__)
blueprint = Blueprint("bounces", __name__, url_prefix="/webhooks")
# Providers batch events; SES's largest notification is 256 KB. Anything bigger is not theirs.
MAX_BODY_BYTES = 1024 * 1024


def init_webhooks(app: Flask, config: Config) -> None:
    """Register the blueprint with what its views share: a replay store (Redis when there is
    one, so every web worker sees the same signatures) and the SNS certificate fetcher."""
    app.extensions["bounces.replay"] = (
        RedisReplayStore.from_url(config.redis_url) if config.redis_url else MemoryReplayStore())
    app.extensions.setdefault("bounces.fetch", fetch_url)
    app.extensions["bounces.recorder"] = Bounces.from_config(config)
    app.register_blueprint(blueprint)


def _config() -> Config:
    return current_app.config["NEWSLETTER"]


def _body() -> bytes:
    if (request.content_length or 0) > MAX_BODY_BYTES:
        abort(413)
    body = request.stream.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        abort(413)
    return body


def _handle(verify: Callable[[bytes], list]) -> ResponseReturnValue:  # type: ignore[type-arg]
    body = _body()
    try:
        events = verify(body)
    except WebhookRejected as rejected:
        log.warning("webhook %s rejected (%s): %s", request.path, rejected.status,
                    rejected.message)
        return jsonify(error=rejected.message), rejected.status
    except FetchFailed as failed:
        return jsonify(error=str(failed)), 503
    recorded = handle_provider_events(current_app.extensions["db"],
                                      current_app.extensions["bounces.recorder"], events)
    outcomes = [r.outcome for r in recorded]
    return jsonify(received=len(events), recorded=outcomes.count("recorded"),
                   duplicates=outcomes.count("duplicate"))


def _replay() -> Any:
    return current_app.extensions["bounces.replay"]


@blueprint.post("/ses")
def ses() -> ResponseReturnValue:
    arns = _config().ses_topic_arn_list
    if not arns:
        abort(404)
    fetch = current_app.extensions["bounces.fetch"]

    def verify(body: bytes) -> list:  # type: ignore[type-arg]
        message = verify_sns(body, topic_allowlist=arns, fetch_cert=fetch, now=utcnow())
        if message.type == "SubscriptionConfirmation":
            # Verified and from an allowed topic: confirming it is what the operator wants.
            confirm_subscription(message, fetch, topic_allowlist=arns)
            log.info("confirmed the SNS subscription to %s", message.topic_arn)
        return parse_ses(message)

    return _handle(verify)


@blueprint.post("/mailgun")
def mailgun() -> ResponseReturnValue:
    key = _config().mailgun_signing_key
    if not key:
        abort(404)
    return _handle(lambda body: verify_mailgun(body, signing_key=key, replay=_replay(),
                                               now=utcnow()))


@blueprint.post("/sendgrid")
def sendgrid() -> ResponseReturnValue:
    key = _config().sendgrid_public_key
    if not key:
        abort(404)
    return _handle(lambda body: verify_sendgrid(body, request.headers, public_key_b64=key,
                                                replay=_replay(), now=utcnow()))


@blueprint.post("/postmark")
def postmark() -> ResponseReturnValue:
    config = _config()
    if not (config.postmark_webhook_user and config.postmark_webhook_password):
        abort(404)
    return _handle(lambda body: verify_postmark(
        body, request.headers.get("Authorization"), username=config.postmark_webhook_user,
        password=config.postmark_webhook_password))


@blueprint.post("/generic")
def generic() -> ResponseReturnValue:
    secret = _config().webhook_secret
    if not secret:
        abort(404)
    return _handle(lambda body: verify_generic(
        body, request.headers.get("X-Newsletter-Signature"), secret=secret, replay=_replay(),
        now=utcnow()))
