"""``/api/sends``: make a send of an issue to lists, control it, and watch its counts.

Creating goes through ``service.sending.launch`` (the same call as the command line and the
admin pages); pause, resume and cancel through ``service.sending.control``.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_smorest import Blueprint, abort
from marshmallow import RAISE
from sqlalchemy import select

from service.api.auth import protect, require_role
from service.api.paging import decode_cursor, next_cursor
from service.api.schemas import SendCreateSchema, SendPageSchema, SendQuerySchema, SendSchema
from service.queue import enqueue_for_running_send
from service.sending.control import control_send
from service.sending.launch import SEND_ISSUE, LaunchError, launch_send
from service.sending.models import Send
from service.sending.sends import SendError, get_send, parse_list_ids, progress, start_send
from service.sending.states import DeliveryStatus
from service.subscribers.models import MailingList

MAX_ID = 2**31 - 1
LAUNCH_ERRORS = {"not_found": 404, "conflict": 409, "invalid": 422}
blueprint = protect(Blueprint("sends_api", __name__, url_prefix="/api/sends",
                              description="Sends of an issue to lists: create, control, watch."))


def _db():  # type: ignore[no-untyped-def]
    return current_app.extensions["db"]


def _summaries(session, sends: list[Send]) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    list_ids = {i for send in sends for i in parse_list_ids(send)}
    slugs = dict(session.execute(
        select(MailingList.id, MailingList.slug).where(MailingList.id.in_(list_ids))).all()
    ) if list_ids else {}
    return [{
        "id": s.id, "issue": s.issue_slug, "status": s.status, "status_reason": s.status_reason,
        "lists": [slugs.get(i, str(i)) for i in parse_list_ids(s)], "total": s.total,
        "scheduled_at": s.scheduled_at, "created_at": s.created_at, "started_at": s.started_at,
        "finished_at": s.finished_at,
    } for s in sends]


def _detail(send_id: int) -> dict[str, Any]:
    """A send with its deliveries counted by state (every state, zeros included)."""
    if send_id > MAX_ID:
        abort(404, message=f"no send {send_id}")
    with _db().session() as session:
        try:
            report = progress(session, send_id)
        except SendError:
            abort(404, message=f"no send {send_id}")
        [shown] = _summaries(session, [report.send])
    shown["counts"] = {str(state): report.counts.get(state, 0) for state in DeliveryStatus}
    return shown


@blueprint.get("")
@blueprint.arguments(SendQuerySchema, location="query", unknown=RAISE)
@blueprint.response(200, SendPageSchema)
@require_role("editor")
def list_sends(query: dict[str, Any]) -> dict[str, Any]:
    """Sends, newest first, a page at a time (``cursor`` = the last page's ``next_cursor``)."""
    before = decode_cursor(query.get("cursor"))
    statement = select(Send).order_by(Send.id.desc()).limit(query["limit"] + 1)
    if before is not None:
        statement = statement.where(Send.id < before)
    if query.get("status"):
        statement = statement.where(Send.status == query["status"])
    with _db().session() as session:
        rows = list(session.scalars(statement))
        ids, cursor = next_cursor([r.id for r in rows], query["limit"])
        return {"items": _summaries(session, rows[: len(ids)]), "next_cursor": cursor}


@blueprint.post("")
@blueprint.arguments(SendCreateSchema)
@blueprint.response(201, SendSchema)
@require_role("admin")
def create_send(data: dict[str, Any]) -> dict[str, Any]:
    """Send ``issue`` to ``lists`` now, or at ``send_at``. 404: no such issue or list;
    409: the issue is a draft, or already went to one of these lists (pass ``again``)."""
    try:
        launched = launch_send(current_app, data["issue"], data["lists"], data.get("send_at"),
                               again=data.get("again", False))
    except LaunchError as exc:
        abort(LAUNCH_ERRORS.get(exc.kind, 422), message=str(exc))
    return _detail(launched.send_id)


@blueprint.get("/<int:send_id>")
@blueprint.response(200, SendSchema)
@require_role("editor")
def get_send_view(send_id: int) -> dict[str, Any]:
    """A send's state, the reason it paused, and its deliveries by state."""
    return _detail(send_id)


def _start(send_id: int) -> None:
    """Start a draft or scheduled send now: its ledger is written, then its work enqueued."""
    with _db().session() as session:
        start_send(session, get_send(session, send_id, lock=True))
    enqueue_for_running_send(current_app.config["NEWSLETTER"], SEND_ISSUE, send_id)


def _control(send_id: int, action: str) -> dict[str, Any]:
    _detail(send_id)  # 404 first
    try:
        if action == "start":
            _start(send_id)
        else:
            control_send(_db(), current_app.config["NEWSLETTER"], send_id, action)
    except SendError as exc:
        abort(409, message=str(exc))
    return _detail(send_id)


@blueprint.post("/<int:send_id>/start")
@blueprint.response(200, SendSchema)
@require_role("admin")
def start(send_id: int) -> dict[str, Any]:
    """Start a draft or scheduled send now. 409 for a send in any other state."""
    return _control(send_id, "start")


@blueprint.post("/<int:send_id>/pause")
@blueprint.response(200, SendSchema)
@require_role("admin")
def pause(send_id: int) -> dict[str, Any]:
    """Pause a running or scheduled send: batches stop before their next message."""
    return _control(send_id, "pause")


@blueprint.post("/<int:send_id>/resume")
@blueprint.response(200, SendSchema)
@require_role("admin")
def resume(send_id: int) -> dict[str, Any]:
    """Resume a paused send. 409 for a send that is not paused."""
    return _control(send_id, "resume")


@blueprint.post("/<int:send_id>/cancel")
@blueprint.response(200, SendSchema)
@require_role("admin")
def cancel(send_id: int) -> dict[str, Any]:
    """Cancel a send: nothing more goes out. 409 for one that has ended already."""
    return _control(send_id, "cancel")
