"""Public subscriber pages: signup, confirm, unsubscribe, preferences. Thin: services do the work.

Every GET only shows a page (link scanners fetch every URL in an email); state changes on
POST. The one-click unsubscribe POST (RFC 8058) needs no cookie or CSRF token: its signed
token is the credential.
"""

from __future__ import annotations

import json
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.i18n import use_language
from service.subscribers.addresses import InvalidAddress, normalise_address
from service.subscribers.forms import ConfirmForm, DeleteForm, PreferencesForm, SubscribeForm
from service.subscribers.links import ALL_LISTS, resolve_token
from service.subscribers.models import MailingList
from service.subscribers.services import SubscriberService, SubscriptionRefused
from service.tokens import TokenError

blueprint = Blueprint("subscribers", __name__)


def _service() -> SubscriberService:
    return current_app.extensions["subscribers"]


def _db():  # type: ignore[no-untyped-def]
    return current_app.extensions["db"]


def _kick_outbox() -> None:
    current_app.extensions["outbox"].kick()


def _find_list(session: Session, slug: str | None) -> MailingList | None:
    query = select(MailingList).order_by(MailingList.id)
    if slug:
        query = query.where(MailingList.slug == slug)
    return session.scalars(query.limit(1)).one_or_none()


def _address_allowed(email: str) -> bool:
    """The per-address limit: past it, a signup is quietly dropped (a 429 would tell a
    stranger that somebody else just used this address)."""
    try:
        key = normalise_address(email).key
    except InvalidAddress:
        return True  # the form reports the address itself
    return current_app.extensions["newsletter.address_limit"](key)


def _signup(mailing_list: MailingList, email: str, name: str, source: str) -> None:
    """Raises InvalidAddress; otherwise the visitor sees the same answer whatever happened."""
    normalise_address(email)
    if not _address_allowed(email):
        return
    with _db().session() as session:
        attached = session.get(MailingList, mailing_list.id)
        if attached is None:
            abort(404)
        queued = _service().subscribe(
            session, email=email, name=name, mailing_list=attached, ip=request.remote_addr,
            source=source,
        )
    if queued:
        _kick_outbox()


@blueprint.route("/subscribe", methods=["GET", "POST"])
@blueprint.route("/subscribe/<slug>", methods=["GET", "POST"])
def subscribe(slug: str | None = None) -> Any:
    with _db().session() as session:
        mailing_list = _find_list(session, slug)
    if mailing_list is None:
        abort(404)
    use_language(mailing_list.language)
    form = SubscribeForm()
    if form.validate_on_submit():
        if form.website.data:  # the honeypot was filled: a bot; answer as if all went well
            return render_template("site/check_email.html", mailing_list=mailing_list)
        try:
            _signup(mailing_list, form.email.data or "", form.name.data or "", "web")
        except InvalidAddress:
            form.email.errors = [_("That does not look like an email address. Please check it.")]
        else:
            return render_template("site/check_email.html", mailing_list=mailing_list)
    status = 400 if form.errors else 200
    return render_template("site/subscribe.html", form=form, mailing_list=mailing_list), status


@blueprint.route("/api/subscribe", methods=["POST", "OPTIONS"])
def api_subscribe() -> Any:
    """For signup forms on other sites: JSON or a form post, with a CORS allow-list."""
    if request.method == "OPTIONS":
        return _cors(make_response("", 204))
    data = request.get_json(silent=True) if request.is_json else request.form
    if not isinstance(data, dict) and not hasattr(data, "get"):
        return _cors(jsonify(error="send JSON or a form with an email field")), 400
    email = str(data.get("email") or "")
    name = str(data.get("name") or "")
    if data.get("website"):
        return _cors(jsonify(status="ok")), 202
    with _db().session() as session:
        mailing_list = _find_list(session, str(data.get("list") or "") or None)
    if mailing_list is None:
        return _cors(jsonify(error="no such list")), 404
    try:
        _signup(mailing_list, email, name, "api")
    except InvalidAddress as exc:
        return _cors(jsonify(error=f"invalid email address: {exc}")), 400
    return _cors(jsonify(status="ok")), 202


def _cors(response: Response) -> Response:
    origin = request.headers.get("Origin", "").rstrip("/")
    allowed = current_app.config["NEWSLETTER"].cors_origin_list
    if origin and ("*" in allowed or origin in allowed):
        response.headers["Access-Control-Allow-Origin"] = "*" if "*" in allowed else origin
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Vary"] = "Origin"
    return response


# ------------------------------------------------------------------ token pages


def _token_error(error: TokenError) -> tuple[str, int]:
    return render_template("site/token_error.html", reason=error.reason), 400


def _target(session: Session, purpose: str, token: str):  # type: ignore[no-untyped-def]
    return resolve_token(session, _service().links.signer, purpose, token)


@blueprint.route("/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str) -> Any:
    form = ConfirmForm()
    with _db().session() as session:
        try:
            target = _target(session, "confirm", token)
        except TokenError as error:
            return _token_error(error)
        pending = [s.mailing_list for s in target.subscriber.subscriptions if s.status == "pending"]
        if pending:
            use_language(pending[0].language)
        if request.method == "GET" or not form.validate_on_submit():
            return render_template("site/confirm.html", form=form, lists=pending)
        try:
            lists = _service().confirm(session, target.subscriber, request.remote_addr)
        except SubscriptionRefused:
            return render_template("site/token_error.html", reason="refused"), 403
        confirmed = lists or [s.mailing_list for s in target.subscriber.subscriptions
                              if s.status == "confirmed"]
    if lists and current_app.config["NEWSLETTER"].welcome_email:
        _kick_outbox()
    library = current_app.extensions["issues"]
    published = library.published()
    latest = published[0] if published else None
    return render_template("site/confirmed.html", lists=confirmed, latest=latest)


@blueprint.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> Any:
    one_click = request.method == "POST" and request.form.get("List-Unsubscribe") == "One-Click"
    with _db().session() as session:
        try:
            target = _target(session, "unsubscribe", token)
        except TokenError as error:
            if one_click:
                return Response(f"invalid token: {error.reason}\n", 400, mimetype="text/plain")
            return _token_error(error)
        mailing_list = session.get(MailingList, target.list_id) if target.list_id else None
        use_language(mailing_list.language if mailing_list else None)
        preferences_url = _service().links.preferences_url(
            target.subscriber.id, target.subscriber.email_key
        )
        if request.method == "GET":
            return render_template("site/unsubscribe.html", mailing_list=mailing_list,
                                   preferences_url=preferences_url)
        _service().unsubscribe(
            session, target.subscriber, target.list_id or ALL_LISTS,
            source="one-click" if one_click else "link", ip=request.remote_addr,
        )
    if one_click:
        return Response("unsubscribed\n", 200, mimetype="text/plain")
    return render_template("site/unsubscribed.html", mailing_list=mailing_list,
                           preferences_url=preferences_url)


@blueprint.route("/preferences/<token>", methods=["GET", "POST"])
def preferences(token: str) -> Any:
    form = PreferencesForm()
    with _db().session() as session:
        try:
            target = _target(session, "preferences", token)
        except TokenError as error:
            return _token_error(error)
        subscriber = target.subscriber
        saved = refused = False
        if request.method == "POST" and form.validate_on_submit():
            chosen = {int(value) for value in request.form.getlist("lists") if value.isdigit()}
            try:
                _service().update_preferences(
                    session, subscriber, list_ids=chosen, name=form.name.data or "",
                    ip=request.remote_addr,
                )
                saved = True
            except SubscriptionRefused:
                refused = True
        elif request.method == "GET":
            form.name.data = subscriber.name
        session.flush()
        lists = list(session.scalars(select(MailingList).order_by(MailingList.id)))
        subscribed = {s.list_id for s in subscriber.subscriptions if s.status == "confirmed"}
        page = render_template(
            "site/preferences.html", form=form, delete_form=DeleteForm(), lists=lists,
            subscribed=subscribed, subscriber=subscriber, token=token, saved=saved,
            refused=refused,
        )
    return page, (400 if form.errors else 200)


@blueprint.post("/preferences/<token>/export")
def export(token: str) -> Any:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    with _db().session() as session:
        try:
            target = _target(session, "preferences", token)
        except TokenError as error:
            return _token_error(error)
        data = _service().export_data(session, target.subscriber)
    body = json.dumps(data, ensure_ascii=False, indent=2)
    response = Response(body, mimetype="application/json")
    response.headers["Content-Disposition"] = 'attachment; filename="my-subscription-data.json"'
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.post("/preferences/<token>/delete")
def delete(token: str) -> Any:
    form = DeleteForm()
    if not form.validate_on_submit():
        return redirect(url_for("subscribers.preferences", token=token))
    with _db().session() as session:
        try:
            target = _target(session, "preferences", token)
        except TokenError as error:
            return _token_error(error)
        _service().delete(session, target.subscriber)
    return render_template("site/deleted.html")
