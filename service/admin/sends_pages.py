"""Sends in the console: the list, a send's live progress page and the fragment it polls, and
the pause, resume and cancel buttons (admin only). Editors may watch."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from service.admin import auth
from service.admin.send_progress import ProgressCache, SendProgress
from service.admin.views import blueprint
from service.sending.control import ACTIONS, control_send
from service.sending.models import Send
from service.sending.sends import SendError
from service.subscribers.links import MAX_ID
from service.subscribers.models import MailingList

SENDS_PAGE = 50


class ControlForm(FlaskForm):
    """Only its CSRF token (the report's retry form)."""


def progress_cache() -> ProgressCache:
    cache = current_app.extensions.get("admin_progress")
    if cache is None:
        cache = current_app.extensions["admin_progress"] = ProgressCache(
            current_app.extensions["db"])
    return cache


def _progress_or_404(send_id: int) -> SendProgress:
    try:
        return progress_cache().get(send_id)
    except SendError:
        abort(404)


def _list_names(list_ids: str) -> str:
    ids = [int(part) for part in list_ids.split(",") if part.strip().isdigit()]
    with current_app.extensions["db"].session() as session:
        names = dict(session.execute(
            select(MailingList.id, MailingList.slug).where(MailingList.id.in_(ids))).all())
    return ", ".join(names.get(list_id, f"#{list_id}") for list_id in ids)


@blueprint.get("/sends")
@auth.require_role("editor")
def sends() -> str:
    """Newest first, a page at a time by id (keyset: ``?before=<id>``)."""
    before = request.args.get("before", type=int)
    query = select(Send.id, Send.issue_slug, Send.subject, Send.status, Send.status_reason,
                   Send.total, Send.created_at, Send.started_at, Send.finished_at,
                   Send.scheduled_at).order_by(Send.id.desc()).limit(SENDS_PAGE + 1)
    if before and before <= MAX_ID:  # past the id column's range is no bound (nor bindable)
        query = query.where(Send.id < max(before, 0))
    with current_app.extensions["db"].session() as session:
        rows = session.execute(query).all()
    more = len(rows) > SENDS_PAGE
    rows = rows[:SENDS_PAGE]
    return render_template("admin/sends.html", rows=rows,
                           next_before=rows[-1].id if more else None)


@blueprint.get("/sends/<int:send_id>")
@auth.require_role("editor")
def send_progress(send_id: int) -> str:
    progress = _progress_or_404(send_id)
    return render_template("admin/send_progress.html", p=progress,
                           lists=_list_names(progress.list_ids))


@blueprint.get("/sends/<int:send_id>/progress")
@auth.require_role("editor")
def send_progress_fragment(send_id: int) -> str:
    """What the progress page polls: the numbers, and the buttons that fit them. No form
    token in it (the page holds one), so a poll costs no signature."""
    return render_fragment(_progress_or_404(send_id))


def render_fragment(progress: SendProgress, **extra: Any) -> str:
    """The fragment, rendered by its template alone: without the console's context
    processors, which would sign a logout form's token on every poll for nothing."""
    template = current_app.jinja_env.get_template("admin/send_progress_fragment.html")
    return template.render(p=progress, current_user=current_user, **extra)


@blueprint.post("/sends/<int:send_id>/<action>")
@auth.require_role("admin")
def send_control(send_id: int, action: str) -> Any:
    """Pause, resume or cancel. From htmx (the page's buttons) the answer is the fresh
    fragment; from a plain form, a redirect to the page."""
    if action not in ACTIONS:
        abort(404)
    _progress_or_404(send_id)
    failed = False
    try:
        status = control_send(current_app.extensions["db"], current_app.config["NEWSLETTER"],
                              send_id, action)
        message = f"send {send_id}: {status}"
    except SendError as exc:
        failed, message = True, str(exc)
    progress_cache().forget(send_id)
    if request.headers.get("HX-Request"):
        return render_fragment(_progress_or_404(send_id), message=message, failed=failed)
    flash(message, "error" if failed else "ok")
    return redirect(url_for("admin.send_progress", send_id=send_id))
