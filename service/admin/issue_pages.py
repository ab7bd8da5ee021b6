"""The issues pages under ``/admin/issues``: the list of issues with their state, the preview
of one issue (the email at two widths, its text and headers, the rendering warnings) and its
test-send form. Thin: service.admin.issues_state, service.admin.issue_preview and
service.sending.copies do the work."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import StringField

from service.admin import auth
from service.admin.issue_preview import SAMPLE_READER, PreviewUnavailable, build_preview
from service.admin.issues_state import list_issue_rows
from service.admin.views import blueprint
from service.sending.copies import MAX_TEST_ADDRESSES, parse_test_addresses, send_test_copies

# The framed email: a sandbox without scripts, its own origin, framable by this site only.
EMAIL_FRAME_POLICY = "; ".join([
    "sandbox allow-popups allow-popups-to-escape-sandbox",
    "default-src 'none'",
    "img-src * data:",
    "style-src 'unsafe-inline'",
    "font-src * data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'self'",
])
MAX_ADDRESS_FIELD = 4000


class TestSendForm(FlaskForm):
    __test__ = False  # not a pytest test class, whatever its name

    addresses = StringField("Addresses")


@blueprint.get("/issues")
@auth.require_role("editor")
def issues() -> str:
    collection = current_app.extensions["issues"].collection()
    with current_app.extensions["db"].session() as session:
        rows = list_issue_rows(session, collection.issues)
    return render_template("admin/issues.html", rows=rows, errors=collection.errors)


def _preview(slug: str):  # type: ignore[no-untyped-def]
    app = current_app
    return build_preview(app.config["NEWSLETTER"], app.extensions["db"], app.extensions["issues"],
                         app.extensions["subscribers"].links, slug)


def _unavailable(slug: str, error: PreviewUnavailable) -> tuple[str, int]:
    return render_template("admin/issue_error.html", slug=slug, message=str(error)), error.status


@blueprint.get("/issues/<slug>")
@auth.require_role("editor")
def issue_preview(slug: str) -> tuple[str, int]:
    try:
        preview = _preview(slug)
    except PreviewUnavailable as error:
        return _unavailable(slug, error)
    return _preview_page(preview, TestSendForm(), [], 200)


def _preview_page(preview, form: TestSendForm, errors: list[tuple[str, str]], status: int):  # type: ignore[no-untyped-def]
    return render_template("admin/issue_preview.html", preview=preview, form=form, errors=errors,
                           max_addresses=MAX_TEST_ADDRESSES, sample_reader=SAMPLE_READER), status


@blueprint.get("/issues/<slug>/email.html")
@auth.require_role("editor")
def issue_email(slug: str) -> Response | tuple[str, int]:
    """The HTML part alone, for the preview's frames."""
    try:
        preview = _preview(slug)
    except PreviewUnavailable as error:
        return _unavailable(slug, error)
    response = Response(preview.html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = EMAIL_FRAME_POLICY
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@blueprint.post("/issues/<slug>/test")
@auth.require_role("editor")
def issue_test_send(slug: str) -> Response | tuple[str, int]:
    form = TestSendForm()
    try:
        preview = _preview(slug)
    except PreviewUnavailable as error:
        return _unavailable(slug, error)
    raw = (form.addresses.data or "")[:MAX_ADDRESS_FIELD]
    parsed = parse_test_addresses(raw)
    if parsed.errors:
        return _preview_page(preview, form, parsed.errors, 422)
    config = current_app.config["NEWSLETTER"]
    results = send_test_copies(config, current_app.extensions["subscribers"].links,
                               preview.compiled, parsed.valid)
    for result in results:
        if result.sent:
            flash(f"[TEST] copy sent to {result.address}", "ok")
        else:
            flash(f"not sent to {result.address}: {result.detail}", "error")
    return redirect(url_for("admin.issue_preview", slug=slug, _anchor="test-send"))
