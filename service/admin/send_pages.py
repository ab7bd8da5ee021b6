"""Sending an issue from the console (admin only): choose lists and a time, see the exact
number of readers, confirm once, and the send is made by service.sending.launch.

A time is read in the chosen lists' time zone when they share one, else in
NEWSLETTER_TIMEZONE (service.sending.launch.zone_for).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select

from service.admin import auth
from service.admin.issue_preview import PreviewUnavailable, find_issue
from service.admin.send_once import ConfirmationInvalid, OnceStore, read_choices, sign_choices
from service.admin.views import blueprint
from service.db import utcnow
from service.sending.launch import (
    LaunchError,
    count_recipients,
    launch_send,
    next_default_time,
    parse_send_at,
    recipients_per_list,
    zone_for,
)
from service.sending.models import Send
from service.sending.sends import parse_list_ids
from service.sending.states import ACTIVE_SENDS
from service.subscribers.forms import chosen_ids
from service.subscribers.models import MailingList
from service.zones import known_zone

LAUNCH_ERROR_STATUS = {"not_found": 404, "conflict": 409, "invalid": 422}


class SendForm(FlaskForm):
    """Only its CSRF token: the lists are checkboxes read with getlist."""


def _db() -> Any:
    return current_app.extensions["db"]


def _timezone() -> str:
    return current_app.config["NEWSLETTER"].timezone


def _once() -> OnceStore:
    store = current_app.extensions.get("admin_send_once")
    if store is None:
        store = current_app.extensions["admin_send_once"] = OnceStore(
            current_app.config["NEWSLETTER"].redis_url)
    return store


def _issue_or_error(slug: str):  # type: ignore[no-untyped-def]
    try:
        return find_issue(current_app.extensions["issues"], slug), None
    except PreviewUnavailable as error:
        page = render_template("admin/issue_error.html", slug=slug, message=str(error))
        return None, (page, error.status)


def _chosen_ids(values: list[str]) -> list[int]:
    return sorted(chosen_ids(values))  # ASCII digits within the ids' range; the rest ignored


def _list_rows(session) -> list[tuple[MailingList, int, dt.datetime | None]]:  # type: ignore[no-untyped-def]
    """Each list with its readers and the next time its schedule default names."""
    lists = list(session.scalars(select(MailingList).order_by(MailingList.name)))
    readers = recipients_per_list(session)
    return [(mailing_list, readers.get(mailing_list.id, 0),
             next_default_time(mailing_list, _timezone())) for mailing_list in lists]


def _earlier_sends(session, slug: str, list_ids: list[int]) -> list[Send]:  # type: ignore[no-untyped-def]
    """Sends of this issue that already went (or will go) to one of these lists."""
    query = select(Send.id, Send.status, Send.list_ids).where(
        Send.issue_slug == slug, Send.status.in_(ACTIVE_SENDS))
    return [row for row in session.execute(query)
            if set(parse_list_ids(row)) & set(list_ids)]  # type: ignore[arg-type]


@blueprint.route("/issues/<slug>/send", methods=["GET", "POST"])
@auth.require_role("admin")
def send_new(slug: str) -> Any:
    """GET: the form. POST: check the choices and show the confirm step."""
    issue, error_page = _issue_or_error(slug)
    if error_page:
        return error_page
    form = SendForm()
    chosen = _chosen_ids(request.form.getlist("lists"))
    mode = request.form.get("when", "now")
    at_text = request.form.get("at", "")
    at_zone = request.form.get("at_zone", "")
    at_zone = at_zone if known_zone(at_zone) else ""
    again = request.form.get("again") == "1"
    errors: list[str] = []
    with _db().session() as session:
        rows = _list_rows(session)
        known = {mailing_list.id: mailing_list for mailing_list, _, _ in rows}
        if request.method == "GET":
            mode, at_text, at_zone = _proposed_time(issue, rows)
            if issue.draft:  # said at once, not after the lists are chosen
                errors.append(f"{issue.path.name} is a draft: remove 'draft: true' to send it")
        if request.method == "POST":
            # A proposed time is read in the zone it was written in, which the form shows.
            zone = at_zone or zone_for([known[i] for i in chosen if i in known], _timezone())
            send_at, errors = _check(issue, chosen, known, mode, at_text, zone)
            earlier = _earlier_sends(session, slug, chosen)
            if earlier and not again:
                names = ", ".join(f"#{row.id} ({row.status})" for row in earlier)
                errors.append(f"this issue already went to one of these lists in send {names};"
                              " tick “send again” to send it once more")
            if not errors:
                count = count_recipients(session, chosen)
                token = sign_choices(current_app.config["NEWSLETTER"].secret_key, {
                    "slug": slug, "lists": chosen, "at": send_at.isoformat() if send_at else None,
                    "again": again})
                return render_template(
                    "admin/send_confirm.html", issue=issue, form=form, token=token, count=count,
                    lists=[known[i] for i in chosen], send_at=send_at, timezone=zone)
        selected_count = count_recipients(session, chosen)
    status = 422 if errors and request.method == "POST" else 200
    return render_template(
        "admin/send_new.html", issue=issue, form=form, rows=rows, chosen=set(chosen), mode=mode,
        at_text=at_text, at_zone=at_zone, again=again, errors=errors, count=selected_count,
        timezone=_timezone()), status


def _proposed_time(issue, rows) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
    """The form's first choice and the zone its time is written in: the issue's own send_at
    while it is ahead (in the lists' shared zone, else NEWSLETTER_TIMEZONE); else "now", with
    the time field holding the next time of the one list that has a schedule default."""
    if issue.send_at and issue.send_at > utcnow():
        zone = zone_for([mailing_list for mailing_list, _, _ in rows], _timezone())
        return "at", issue.send_at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M"), zone
    defaults = [when for _, _, when in rows if when is not None]
    if len(defaults) != 1:
        return "now", "", ""
    return "now", defaults[0].strftime("%Y-%m-%dT%H:%M"), str(defaults[0].tzinfo)


def _check(issue, chosen: list[int], known: dict[int, MailingList], mode: str,  # type: ignore[no-untyped-def]
           at_text: str, zone: str) -> tuple[dt.datetime | None, list[str]]:
    errors = []
    if issue.draft:
        errors.append(f"{issue.path.name} is a draft: remove 'draft: true' to send it")
    if not chosen:
        errors.append("choose at least one list")
    elif any(list_id not in known for list_id in chosen):
        errors.append("one of the chosen lists does not exist any more")
    send_at = None
    if mode == "at":
        try:
            send_at = parse_send_at(at_text, zone)
        except LaunchError as exc:
            errors.append(f"the time: {exc}")
        if send_at is None and not errors:
            errors.append("give the date and time to send at, or choose “send now”")
        elif send_at is not None and send_at <= utcnow():
            errors.append(f"{at_text.replace('T', ' ')} ({zone}) has passed:"
                          " choose a later time, or “send now”")
    elif mode != "now":
        errors.append("choose “send now” or a time")
    return send_at, errors


@blueprint.get("/sends/count")
@auth.require_role("admin")
def send_count() -> str:
    """The reader count for the lists ticked so far (an htmx fragment)."""
    with _db().session() as session:
        count = count_recipients(session, _chosen_ids(request.args.getlist("lists")))
    return render_template("admin/send_count.html", count=count)


@blueprint.post("/issues/<slug>/send/confirm")
@auth.require_role("admin")
def send_confirm(slug: str) -> Any:
    config = current_app.config["NEWSLETTER"]
    try:
        choices = read_choices(config.secret_key, request.form.get("confirmation", ""))
    except ConfirmationInvalid as exc:
        return _refused(slug, f"{exc}: start again from the send form.", 400)
    if choices.get("slug") != slug:
        abort(400)
    store = _once()
    if not store.claim(choices["nonce"]):
        made = store.made(choices["nonce"])
        if made is not None:
            flash(f"That confirmation was used already: this is the send it made (#{made}).")
            return redirect(url_for("admin.send_progress", send_id=made))
        return _refused(slug, "that confirmation is being used already; see the sends.", 409)
    try:
        launched = launch_send(current_app, slug, choices["lists"], choices["at"] or utcnow(),
                               again=choices["again"])
    except LaunchError as exc:
        return _refused(slug, str(exc), LAUNCH_ERROR_STATUS.get(exc.kind, 422))
    store.record(choices["nonce"], launched.send_id)
    if not launched.queued:
        flash("The send is recorded, but the task queue (Redis) cannot be reached: beat's sweeper"
              " queues it as soon as Redis answers again, and it starts then.", "error")
    return redirect(url_for("admin.send_progress", send_id=launched.send_id))


def _refused(slug: str, message: str, status: int) -> tuple[str, int]:
    return render_template("admin/send_refused.html", slug=slug, message=message), status

