"""The readers pages under ``/admin/readers``: search and filter, one reader's page, the
changes an admin makes, and the CSV export. Admins only: these pages show every reader's
address and history, which an editor's work (preview, test-send) never needs."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select

from service.admin import auth
from service.admin.reader_actions import (
    ReaderEditError,
    audit,
    edit_reader,
    erase_reader,
    reader_detail,
    unsubscribe_reader,
    unsuppress_reader,
)
from service.admin.readers_query import (
    FIELDS,
    FILTER_STATUSES,
    MAX_QUERY,
    SORTS,
    BadCursor,
    ReaderFilter,
    iter_readers,
    reader_page,
)
from service.admin.views import blueprint
from service.bounces.policy import NotSuppressed
from service.subscribers.exporter import guard_cell
from service.subscribers.links import MAX_ID
from service.subscribers.models import MailingList, Subscriber

EXPORT_COLUMNS = ("email", "name", "lists", "status", "created", "confirmed")


def _db():  # type: ignore[no-untyped-def]
    return current_app.extensions["db"]


def _lists() -> list[MailingList]:
    with _db().session() as session:
        return list(session.scalars(select(MailingList).order_by(MailingList.slug)))


def _filter(lists: list[MailingList]) -> ReaderFilter:
    """The filter the query string asks for; unknown values are dropped, not trusted."""
    args = request.args
    slug = args.get("list", "")
    list_id = next((m.id for m in lists if m.slug == slug), None)
    status = args.get("status", "")
    field = args.get("field", "email")
    sort = args.get("sort", "newest")
    return ReaderFilter(
        query=args.get("q", "").strip()[:MAX_QUERY],
        field=field if field in FIELDS else "email",
        list_id=list_id,
        status=status if status in FILTER_STATUSES else "",
        sort=sort if sort in SORTS else "newest",
    )


@blueprint.get("/readers")
@auth.require_role("admin")
def readers() -> str:
    lists = _lists()
    chosen = _filter(lists)
    with _db().session() as session:
        try:
            page = reader_page(session, chosen, after=request.args.get("after"),
                               before=request.args.get("before"),
                               last=request.args.get("last") == "1")
        except BadCursor:
            abort(400)
    keep = {k: v for k, v in request.args.items() if k in ("q", "field", "list", "status", "sort") and v}
    return render_template("admin/readers.html", page=page, lists=lists, chosen=chosen,
                           keep=keep, statuses=FILTER_STATUSES, sorts=SORTS)


def _export_lines(rows: Iterator) -> Iterator[str]:  # type: ignore[type-arg]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    for number, row in enumerate(rows, 1):
        lists = ";".join(f"{slug}:{status}" for slug, status in row.lists)
        cells = [row.email, row.name, lists, row.status, row.created_at.isoformat(),
                 row.confirmed_at.isoformat() if row.confirmed_at else ""]
        writer.writerow([guard_cell(cell) for cell in cells])
        if number % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


@blueprint.get("/readers/export.csv")
@auth.require_role("admin")
def export_readers() -> Response:
    chosen = _filter(_lists())
    db = _db()
    audit.info("admin %s exported readers (%s)", current_user.email, chosen)
    response = Response(stream_with_context(_export_lines(iter_readers(db, chosen))),
                        mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="readers.csv"'
    return response


def _reader(session, reader_id: int) -> Subscriber:  # type: ignore[no-untyped-def]
    subscriber = session.get(Subscriber, reader_id)
    if subscriber is None:
        abort(404)
    return subscriber


@blueprint.get("/readers/<int:reader_id>")
@auth.require_role("admin")
def reader(reader_id: int, error: str = "", status: int = 200) -> tuple[str, int]:
    before = request.args.get("deliveries_before", type=int)
    if before is not None:  # past the id column's range is no bound; the database cannot bind it
        before = None if before > MAX_ID else max(before, 0)
    with _db().session() as session:
        detail = reader_detail(session, _reader(session, reader_id), before)
        page = render_template("admin/reader.html", detail=detail, error=error)
    return page, status


@blueprint.post("/readers/<int:reader_id>/edit")
@auth.require_role("admin")
def reader_edit(reader_id: int) -> Response | tuple[str, int]:
    with _db().session() as session:
        subscriber = _reader(session, reader_id)
        try:
            edit_reader(session, subscriber, email=request.form.get("email", ""),
                        name=request.form.get("name", ""), by=current_user.email)
        except ValueError as exc:  # a malformed address, or one another reader has
            session.rollback()
            message = str(exc) if isinstance(exc, ReaderEditError) else f"not a valid address: {exc}"
            error = message
        else:
            error = ""
    if error:
        return reader(reader_id, error=error, status=400)
    flash("Saved.")
    return redirect(url_for("admin.reader", reader_id=reader_id))


@blueprint.post("/readers/<int:reader_id>/unsubscribe")
@auth.require_role("admin")
def reader_unsubscribe(reader_id: int) -> Response:
    list_id = request.form.get("list_id", type=int)
    if list_id is None or not 0 <= list_id <= MAX_ID:
        abort(400)
    with _db().session() as session:
        unsubscribe_reader(current_app.extensions["subscribers"], session,
                           _reader(session, reader_id), list_id, current_user.email)
    flash("Unsubscribed.")
    return redirect(url_for("admin.reader", reader_id=reader_id))


@blueprint.post("/readers/<int:reader_id>/delete")
@auth.require_role("admin")
def reader_delete(reader_id: int) -> Response:
    with _db().session() as session:
        erase_reader(current_app.extensions["subscribers"], session, _reader(session, reader_id),
                     current_user.email)
    flash(f"Reader #{reader_id} and everything kept about them were erased.")
    return redirect(url_for("admin.readers"))


@blueprint.post("/readers/<int:reader_id>/unsuppress")
@auth.require_role("admin")
def reader_unsuppress(reader_id: int) -> Response | tuple[str, int]:
    with _db().session() as session:
        try:
            previous = unsuppress_reader(session, _reader(session, reader_id), current_user.email)
        except NotSuppressed as exc:
            session.rollback()
            error = str(exc)
        else:
            error = ""
    if error:
        return reader(reader_id, error=error, status=400)
    flash(f"No longer {previous}.")
    return redirect(url_for("admin.reader", reader_id=reader_id))
