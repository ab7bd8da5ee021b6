"""A send's report: deliveries by state, bounce and complaint rates with their reasons, the
filterable per-recipient log (admins only: it names readers), and "retry the failed readers"
(admin only)."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from service.admin import auth
from service.admin.send_report import clean_filters, delivery_log
from service.admin.sends_pages import ControlForm, progress_cache
from service.admin.views import blueprint
from service.bounces.report import send_bounces
from service.sending.retry import retry_failed
from service.sending.sends import SendError
from service.sending.states import DeliveryStatus
from service.subscribers.links import MAX_ID


@blueprint.get("/sends/<int:send_id>/report")
@auth.require_role("editor")
def send_report(send_id: int) -> str:
    try:
        progress = progress_cache().get(send_id)
    except SendError:
        abort(404)
    state, query = clean_filters(request.args.get("state"), request.args.get("q"))
    after = min(max(request.args.get("after", 0, type=int), 0), MAX_ID)
    # The log names readers' addresses, which an editor's work never needs.
    readers_shown = current_user.allows("admin")
    with current_app.extensions["db"].session() as session:
        bounces = send_bounces(session, send_id)
        log = delivery_log(session, send_id, state, query, after) if readers_shown else None
    return render_template("admin/send_report.html", p=progress, bounces=bounces, log=log,
                           state=state, query=query, after=after, form=ControlForm(),
                           states=list(DeliveryStatus))


@blueprint.post("/sends/<int:send_id>/retry-failed")
@auth.require_role("admin")
def send_retry_failed(send_id: int) -> Response:
    try:
        progress_cache().get(send_id)
    except SendError:
        abort(404)
    try:
        requeued = retry_failed(current_app.extensions["db"], current_app.config["NEWSLETTER"],
                                send_id)
    except SendError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.send_report", send_id=send_id))
    progress_cache().forget(send_id)
    flash(f"{requeued} failed deliveries queued again", "ok")
    return redirect(url_for("admin.send_progress", send_id=send_id))
