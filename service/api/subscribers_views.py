"""``/api/subscribers``: create, read, page through, update and delete readers."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request
from flask_smorest import Blueprint, abort
from marshmallow import RAISE

from service.api import readers
from service.api.auth import current_token, protect, require_role
from service.api.paging import decode_cursor, next_cursor
from service.api.schemas import (
    SubscriberCreateSchema,
    SubscriberPageSchema,
    SubscriberQuerySchema,
    SubscriberSchema,
    SubscriberUpdateSchema,
)
from service.subscribers.addresses import InvalidAddress
from service.subscribers.models import Subscriber
from service.subscribers.services import SubscriberService, SubscriptionRefused

MAX_ID = 2**31 - 1  # an integer column's largest value: a larger id names nobody
blueprint = protect(Blueprint("subscribers_api", __name__, url_prefix="/api/subscribers",
                              description="Readers: their address, lists and status."))


def _db():  # type: ignore[no-untyped-def]
    return current_app.extensions["db"]


def _service() -> SubscriberService:
    return current_app.extensions["subscribers"]


def _source() -> str:
    return f"api:{current_token().name}"[:50]


def _get(session, subscriber_id: int) -> Subscriber:  # type: ignore[no-untyped-def]
    subscriber = session.get(Subscriber, subscriber_id) if subscriber_id <= MAX_ID else None
    if subscriber is None:
        abort(404, message=f"no subscriber {subscriber_id}")
    return subscriber


def _unknown_list(exc: readers.UnknownList) -> None:
    abort(422, message=f"no such list: {exc}", errors={"json": {"lists": [f"unknown: {exc}"]}})


@blueprint.get("")
@blueprint.arguments(SubscriberQuerySchema, location="query", unknown=RAISE)
@blueprint.response(200, SubscriberPageSchema)
@require_role("admin")  # readers' addresses: an editor's work never needs them
def list_subscribers(query: dict[str, Any]) -> dict[str, Any]:
    """Readers in id order, a page at a time: pass ``next_cursor`` back as ``cursor``."""
    after = decode_cursor(query.get("cursor"))
    with _db().session() as session:
        try:
            rows = readers.page(session, after=after, limit=query["limit"],
                                list_key=query.get("list"), status=query.get("status"),
                                email=query.get("email"))
        except readers.UnknownList as exc:
            abort(404, message=f"no list {exc}")
        ids, cursor = next_cursor([r.id for r in rows], query["limit"])
        return {"items": readers.describe(session, rows[: len(ids)]), "next_cursor": cursor}


@blueprint.post("")
@blueprint.arguments(SubscriberCreateSchema)
@blueprint.response(201, SubscriberSchema)
@require_role("admin")
def create_subscriber(data: dict[str, Any]) -> dict[str, Any]:
    """Add a reader. ``status`` pending (default) mails the confirmation of each double
    opt-in list; confirmed records that consent was collected elsewhere. 409 when the
    address is known already."""
    try:
        with _db().session() as session:
            subscriber = readers.create(session, _service(), data, source=_source(),
                                        ip=request.remote_addr)
            [shown] = readers.describe(session, [subscriber])
    except InvalidAddress as exc:
        abort(422, message=f"invalid email address: {exc}",
              errors={"json": {"email": [str(exc)]}})
    except readers.UnknownList as exc:
        _unknown_list(exc)
    except readers.ReaderConflict as exc:
        abort(409, message=str(exc))
    current_app.extensions["outbox"].kick()  # the confirmation email, if one was queued
    return shown


@blueprint.get("/<int:subscriber_id>")
@blueprint.response(200, SubscriberSchema)
@require_role("admin")
def get_subscriber(subscriber_id: int) -> dict[str, Any]:
    with _db().session() as session:
        [shown] = readers.describe(session, [_get(session, subscriber_id)])
        return shown


@blueprint.patch("/<int:subscriber_id>")
@blueprint.arguments(SubscriberUpdateSchema)
@blueprint.response(200, SubscriberSchema)
@require_role("admin")
def update_subscriber(data: dict[str, Any], subscriber_id: int) -> dict[str, Any]:
    """Change the name or attributes; ``status`` confirmed confirms the pending lists,
    unsubscribed leaves every list. 409 to confirm a suppressed (bounced, complained,
    blocklisted) reader."""
    try:
        with _db().session() as session:
            subscriber = _get(session, subscriber_id)
            readers.update(session, _service(), subscriber, data, source=_source())
            [shown] = readers.describe(session, [subscriber])
    except SubscriptionRefused as exc:
        abort(409, message=f"the reader is {exc}: lift the suppression first")
    current_app.extensions["outbox"].kick()  # a welcome email, when confirming queued one
    return shown


@blueprint.delete("/<int:subscriber_id>")
@blueprint.response(204)
@require_role("admin")
def delete_subscriber(subscriber_id: int) -> Response:
    """Erase the reader entirely (GDPR): subscriptions, history, queued mail; the same as
    the reader's own "delete my data"."""
    with _db().session() as session:
        _service().delete(session, _get(session, subscriber_id))
    return Response(status=204)
