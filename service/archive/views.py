"""Archive routes. Thin: the IssueLibrary does the loading and rendering."""

from __future__ import annotations

import hashlib
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from werkzeug.security import safe_join

from service.archive.feed import render_feed
from service.issues.library import IssueLibrary

blueprint = Blueprint("archive", __name__)

# Only these may be served from the issues folder; the Markdown sources stay private.
ASSET_TYPES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".pdf"}


def _library() -> IssueLibrary:
    return current_app.extensions["issues"]


def _cached(response: Response, tag_source: str | bytes) -> Response:
    """Public caching with a strong ETag, answering conditional requests with 304."""
    data = tag_source.encode() if isinstance(tag_source, str) else tag_source
    response.set_etag(hashlib.sha256(data).hexdigest()[:32])
    response.cache_control.public = True
    response.cache_control.max_age = current_app.config["NEWSLETTER"].archive_cache_seconds
    response.vary.add("Accept-Language")  # the page chrome follows the reader's language
    return response.make_conditional(request)


@blueprint.get("/")
def index() -> Response:
    return redirect(url_for("archive.archive"))


@blueprint.get("/archive")
def archive() -> Response:
    library = _library()
    # Each issue's preheader (explicit, or its lead paragraph) comes from its cached render.
    entries = [(issue, library.compiled(issue).preheader) for issue in library.published()]
    body = render_template("site/archive.html", entries=entries)
    return _cached(Response(body, mimetype="text/html"), body)


@blueprint.get("/issues/<slug>")
def issue_page(slug: str) -> Response:
    library = _library()
    issue = library.collection().by_slug(slug)
    if issue is None or issue.draft:
        abort(404)
    compiled = library.compiled(issue)
    url = url_for("archive.issue_page", slug=slug, _external=False)
    base = current_app.config["NEWSLETTER"].base_url
    body = compiled.web_html(base + url)
    response = Response(body, mimetype="text/html")
    return _cached(response, compiled.content_hash)


@blueprint.get("/feed.xml")
def feed() -> Response:
    library = _library()
    config = current_app.config["NEWSLETTER"]
    body = render_feed(config, library.published(), library.compiled)
    return _cached(Response(body, mimetype="application/atom+xml"), body)


@blueprint.get("/assets/<path:name>")
def asset(name: str) -> Response:
    """A file from the issues folder, streamed, with an ETag and Last-Modified made from its
    size and time (never a hash of its bytes per request), answering conditional requests."""
    root: Path = current_app.config["NEWSLETTER"].issues_dir
    joined = safe_join(str(root), name)
    if joined is None:
        abort(404)
    path = Path(joined)
    if path.suffix.lower() not in ASSET_TYPES or not path.is_file():
        abort(404)
    response = send_from_directory(
        root, name, conditional=True, etag=True,
        max_age=current_app.config["NEWSLETTER"].archive_cache_seconds,
    )
    response.cache_control.public = True
    if path.suffix.lower() == ".svg":
        # An SVG can carry script; served as an image it must not run in our origin.
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'"
        )
    return response
