"""The lists pages under ``/admin/lists``: create and edit a list, its public signup URL
and a signup form to paste into another site. Admins only."""

from __future__ import annotations

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from service.admin import auth
from service.admin.reader_actions import audit
from service.admin.views import blueprint
from service.subscribers.list_settings import (
    WEEKDAYS,
    ListSettings,
    create_list_with,
    update_list,
)
from service.subscribers.lists import LANGUAGES, SLUG, ListError
from service.subscribers.models import MailingList


def _db():  # type: ignore[no-untyped-def]
    return current_app.extensions["db"]


def _settings_from_form() -> ListSettings:
    form = request.form
    weekday = form.get("send_weekday", "").strip()
    if weekday and not (weekday.isascii() and weekday.isdecimal() and len(weekday) == 1):
        # The form offers 0-6; '²'.isdigit() is true and int() refuses it, '３' would pass.
        raise ListError("the send day is a weekday, Monday to Sunday")
    return ListSettings(
        name=form.get("name", ""),
        language=form.get("language", ""),
        sender=form.get("sender", ""),
        reply_to=form.get("reply_to", ""),
        timezone=form.get("timezone", "").strip(),
        send_weekday=int(weekday) if weekday else None,
        send_time=form.get("send_time", "").strip(),
        double_opt_in=form.get("double_opt_in") == "on",
        description=form.get("description", ""),
    )


def _form_page(mailing_list: MailingList | None, values: dict, error: str,  # type: ignore[type-arg]
               status: int) -> tuple[str, int]:
    config = current_app.config["NEWSLETTER"]
    return render_template(
        "admin/list_form.html", mailing_list=mailing_list, values=values, error=error,
        languages=LANGUAGES, weekdays=WEEKDAYS, base_url=config.base_url.rstrip("/"),
        default_sender=config.mail_from, default_timezone=config.timezone,
    ), status


def _values(mailing_list: MailingList | None) -> dict:  # type: ignore[type-arg]
    if request.method == "POST":
        return {**request.form.to_dict(), "double_opt_in": request.form.get("double_opt_in") == "on"}
    if mailing_list is None:
        return {"language": current_app.config["NEWSLETTER"].language, "double_opt_in": True}
    return {name: getattr(mailing_list, name) for name in (
        "slug", "name", "language", "sender", "reply_to", "timezone", "send_weekday",
        "send_time", "double_opt_in", "description")}


@blueprint.get("/lists")
@auth.require_role("admin")
def lists() -> str:
    with _db().session() as session:
        found = list(session.scalars(select(MailingList).order_by(MailingList.slug)))
    return render_template("admin/lists.html", lists=found)


@blueprint.route("/lists/new", methods=["GET", "POST"])
@auth.require_role("admin")
def new_list() -> Response | tuple[str, int]:
    if request.method == "GET":
        return _form_page(None, _values(None), "", 200)
    slug = request.form.get("slug", "").strip()
    with _db().session() as session:
        try:
            if not SLUG.match(slug):
                raise ListError("the key is lower-case letters, digits and dashes, like 'news'")
            create_list_with(session, slug, _settings_from_form())
        except ListError as exc:
            session.rollback()
            return _form_page(None, _values(None), str(exc), 400)
    audit.info("admin %s created list %s", current_user.email, slug)
    flash(f"List {slug} created.")
    return redirect(url_for("admin.edit_list", slug=slug))


@blueprint.route("/lists/<slug>", methods=["GET", "POST"])
@auth.require_role("admin")
def edit_list(slug: str) -> Response | tuple[str, int]:
    if not SLUG.match(slug):  # no list's key (and PostgreSQL refuses a NUL to compare)
        abort(404)
    with _db().session() as session:
        mailing_list = session.scalars(select(MailingList).where(MailingList.slug == slug)).one_or_none()
        if mailing_list is None:
            abort(404)
        if request.method == "GET":
            return _form_page(mailing_list, _values(mailing_list), "", 200)
        try:
            update_list(mailing_list, _settings_from_form())
        except ListError as exc:
            session.rollback()
            return _form_page(mailing_list, _values(mailing_list), str(exc), 400)
    audit.info("admin %s edited list %s", current_user.email, slug)
    flash("Saved.")
    return redirect(url_for("admin.edit_list", slug=slug))
