"""Public subscriber pages: signup, confirm, unsubscribe, preferences. Thin: services do the work.

Every GET (and HEAD, which Flask routes to the same view) only shows a page: link scanners
fetch every URL in an email. State changes only on POST, and every POST form carries a CSRF
token, except the RFC 8058 one-click unsubscribe, which needs no cookie: its signed token is
the credential. A signup request only validates and queues (``signups.py``), so its answer
takes the same time whether the address is known or not.
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
from service.subscribers.addresses import MAX_NAME, Address, InvalidAddress, normalise_address
from service.subscribers.forms import (
    ConfirmForm,
    DeleteForm,
    PreferencesForm,
    SubscribeForm,
    chosen_ids,
)
from service.subscribers.links import ALL_LISTS, TokenTarget, resolve_expired, resolve_token
from service.subscribers.lists import SLUG
from service.subscribers.models import SUPPRESSED_STATUSES, MailingList, Subscriber
from service.subscribers.services import SubscriberService, SubscriptionRefused
from service.subscribers.signups import queue_signup
from service.tokens import TokenError

blueprint = Blueprint("subscribers", __name__)


@blueprint.after_request
def _private(response: Response) -> Response:
    """Every page here is one visitor's (a CSRF token, a reader's own data): never stored."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _service() -> SubscriberService:
    return current_app.extensions["subscribers"]


def _db():  # type: ignore[no-untyped-def]
    return current_app.extensions["db"]


def _kick_outbox() -> None:
    current_app.extensions["outbox"].kick()


def _find_list(session: Session, slug: str | None) -> MailingList | None:
    query = select(MailingList).order_by(MailingList.id)
    if slug:
        if not SLUG.match(slug):  # not a slug any list can have (PostgreSQL refuses NUL)
            return None
        query = query.where(MailingList.slug == slug)
    return session.scalars(query.limit(1)).one_or_none()


def mailbox_key(address: Address) -> str:
    """One key per mailbox for the per-address limit: ``a+x@`` and ``a+y@`` are one mailbox,
    and so are Gmail's dotted variants of one name."""
    local, _, domain = address.key.rpartition("@")
    local = local.split("+", 1)[0] or local
    if domain in ("gmail.com", "googlemail.com"):
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def _address_allowed(address: Address) -> bool:
    """The per-address limit: past it, a signup is quietly dropped (a 429 would tell a
    stranger that somebody else just used this address)."""
    return current_app.extensions["newsletter.address_limit"](mailbox_key(address))


def _signup(mailing_list: MailingList, email: str, name: str, source: str) -> None:
    """Validate and queue. Raises InvalidAddress; otherwise every visitor sees the same answer
    after the same work, whatever the address: the rest happens in the signup relay."""
    address = normalise_address(email)
    if not _address_allowed(address):
        return
    with _db().session() as session:
        queue_signup(session, mailing_list, address, name=name, ip=request.remote_addr,
                     source=source)
    current_app.extensions["signups"].kick()


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
    return render_template("site/subscribe.html", form=form, mailing_list=mailing_list,
                           max_name=MAX_NAME), status


@blueprint.route("/api/subscribe", methods=["POST", "OPTIONS"])
def api_subscribe() -> Any:
    """For signup forms on other sites: JSON or a form post, with a CORS allow-list."""
    if request.method == "OPTIONS":
        return _cors(make_response("", 204))
    data = request.get_json(silent=True) if request.is_json else request.form
    if not hasattr(data, "get"):
        return _cors(jsonify(error="send JSON or a form with an email field")), 400
    email = data.get("email")
    name = data.get("name") or ""
    if not isinstance(email, str) or not isinstance(name, str):
        return _cors(jsonify(error="email and name must be text")), 400
    if data.get("website"):
        return _cors(jsonify(status="ok")), 202
    if len(name) > MAX_NAME:
        return _cors(jsonify(error=f"the name is longer than {MAX_NAME} characters")), 400
    slug = data.get("list")
    with _db().session() as session:
        mailing_list = _find_list(session, slug if isinstance(slug, str) and slug else None)
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


def _token_error(error: TokenError, purpose: str = "", token: str = "") -> tuple[str, int]:
    """The page for a link that does not work. An expired preferences link offers a new one,
    by email to the address it was made for (the form posts; this page changes nothing)."""
    renew = error.reason == "expired" and purpose == "preferences"
    return render_template(
        "site/token_error.html", reason=error.reason, form=ConfirmForm() if renew else None,
        renew_url=url_for("subscribers.renew", token=token) if renew else "",
    ), 400


def _target(session: Session, purpose: str, token: str) -> TokenTarget:
    return resolve_token(session, _service().links.signer, purpose, token)


def _language_of(subscriber: Subscriber) -> None:
    lists = [s.mailing_list for s in subscriber.subscriptions]
    if lists:
        use_language(lists[0].language)


@blueprint.route("/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str) -> Any:
    form = ConfirmForm()
    with _db().session() as session:
        try:
            target = _target(session, "confirm", token)
        except TokenError as error:
            return _token_error(error)
        subscriber = target.subscriber
        # The lists the link names; a link from before lists were named: every pending one.
        list_ids = target.list_ids or None
        pending = [s.mailing_list for s in _service().pending_subscriptions(session, subscriber, list_ids)]
        if pending:
            use_language(pending[0].language)
        else:
            _language_of(subscriber)
        if subscriber.status in SUPPRESSED_STATUSES:
            return render_template("site/token_error.html", reason="refused"), 403
        if request.method != "POST" or not form.validate_on_submit():
            return render_template("site/confirm.html", form=form, lists=pending)
        try:
            lists = _service().confirm(session, subscriber, request.remote_addr, list_ids)
        except SubscriptionRefused:
            return render_template("site/token_error.html", reason="refused"), 403
        confirmed = lists or [
            s.mailing_list for s in subscriber.subscriptions
            if s.status == "confirmed" and (list_ids is None or s.list_id in list_ids)
        ]
    if lists and current_app.config["NEWSLETTER"].welcome_email:
        _kick_outbox()
    library = current_app.extensions["issues"]
    published = library.published()
    latest = published[0] if published else None
    return render_template("site/confirmed.html", lists=confirmed, latest=latest)


@blueprint.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> Any:
    """The page's button is an ordinary form (with CSRF); a POST of exactly
    ``List-Unsubscribe=One-Click`` is RFC 8058's, from a mail client, with no cookie."""
    one_click = request.method == "POST" and request.form.get("List-Unsubscribe") == "One-Click"
    form = ConfirmForm()
    with _db().session() as session:
        try:
            target = _target(session, "unsubscribe", token)
        except TokenError as error:
            if one_click:
                return Response(f"invalid token: {error.reason}\n", 400, mimetype="text/plain")
            return _token_error(error)
        mailing_list = session.get(MailingList, target.list_id) if target.list_id else None
        if mailing_list is not None:
            use_language(mailing_list.language)
        else:
            _language_of(target.subscriber)
        if request.method != "POST":
            return render_template("site/unsubscribe.html", form=form, mailing_list=mailing_list)
        if not one_click and not form.validate_on_submit():
            return render_template(
                "site/error.html", title=_("Form expired"),
                message=_("The form expired or was sent twice. Go back, reload the page and try again."),
            ), 400
        _service().unsubscribe(
            session, target.subscriber, target.list_id or ALL_LISTS,
            source="one-click" if one_click else "link", ip=request.remote_addr,
        )
    if one_click:
        return Response("unsubscribed\n", 200, mimetype="text/plain")
    return render_template("site/unsubscribed.html", mailing_list=mailing_list)


@blueprint.route("/preferences/<token>", methods=["GET", "POST"])
def preferences(token: str) -> Any:
    form = PreferencesForm()
    with _db().session() as session:
        try:
            target = _target(session, "preferences", token)
        except TokenError as error:
            return _token_error(error, "preferences", token)
        subscriber = target.subscriber
        _language_of(subscriber)
        saved = refused = False
        if request.method == "POST" and form.validate_on_submit():
            try:
                _service().update_preferences(
                    session, subscriber, list_ids=chosen_ids(request.form.getlist("lists")),
                    name=form.name.data or "", ip=request.remote_addr,
                )
                saved = True
            except SubscriptionRefused:
                refused = True
        elif request.method != "POST":
            form.name.data = subscriber.name
        session.flush()
        lists = list(session.scalars(select(MailingList).order_by(MailingList.id)))
        subscribed = {s.list_id for s in subscriber.subscriptions if s.status == "confirmed"}
        page = render_template(
            "site/preferences.html", form=form, delete_form=DeleteForm(), lists=lists,
            subscribed=subscribed, subscriber=subscriber, token=token, saved=saved,
            refused=refused, max_name=MAX_NAME,
        )
    return page, (400 if form.errors else 200)


@blueprint.post("/preferences/<token>/renew")
def renew(token: str) -> Any:
    """Mail a fresh preferences link to the address an expired link was made for."""
    with _db().session() as session:
        try:
            _target(session, "preferences", token)
        except TokenError as error:
            target = resolve_expired(session, error)
            if target is None:
                return _token_error(error)
            _language_of(target.subscriber)
            queued = _service().send_preferences_link(session, target.subscriber)
        else:
            return redirect(url_for("subscribers.preferences", token=token))
    if queued:
        _kick_outbox()
    return render_template("site/link_sent.html")


@blueprint.post("/preferences/<token>/export")
def export(token: str) -> Any:
    with _db().session() as session:
        try:
            target = _target(session, "preferences", token)
        except TokenError as error:
            return _token_error(error, "preferences", token)
        data = _service().export_data(session, target.subscriber)
    body = json.dumps(data, ensure_ascii=False, indent=2)
    response = Response(body, mimetype="application/json")
    response.headers["Content-Disposition"] = 'attachment; filename="my-subscription-data.json"'
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
            return _token_error(error, "preferences", token)
        _service().delete(session, target.subscriber)
    return render_template("site/deleted.html")
