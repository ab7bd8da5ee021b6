"""CSV import from the browser under ``/admin/imports``: upload, a progress bar that htmx
polls, the report of bad rows, and retry. The work is service.subscribers.import_jobs'."""

from __future__ import annotations

import codecs
import csv
import io
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Response, abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError, validate_csrf
from sqlalchemy import select
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import ValidationError

from service.admin import auth
from service.admin.reader_actions import audit
from service.admin.views import blueprint
from service.subscribers import import_jobs
from service.subscribers.addresses import InvalidAddress, normalise_address
from service.subscribers.exporter import guard_cell
from service.subscribers.import_jobs import ImportJob
from service.subscribers.lists import CONTROL, SLUG
from service.subscribers.models import MailingList

# Where uploads are kept, inside the instance folder, until their import is done with them.
UPLOAD_DIR = "imports"
SNIFF_BYTES = 64 * 1024
RECENT_JOBS = 20
ERROR_PAGE = 1000


class UploadRefused(ValueError):
    """The file cannot be imported; the message tells the admin what to fix."""


@blueprint.record_once
def _exempt_upload(state: Any) -> None:
    # The upload checks its CSRF token itself, after raising the request size limit for this
    # one view: the app-wide check would read the body under the 1 MB limit first.
    state.app.extensions["csrf"].exempt(f"{__name__}.upload_import")


def _db():  # type: ignore[no-untyped-def]
    return current_app.extensions["db"]


def _page(error: str = "", status: int = 200) -> tuple[str, int]:
    with _db().session() as session:
        lists = list(session.scalars(select(MailingList).order_by(MailingList.slug)))
        jobs = list(session.scalars(select(ImportJob).order_by(ImportJob.id.desc()).limit(RECENT_JOBS)))
    slugs = {m.id: m.slug for m in lists}
    max_mb = current_app.config["NEWSLETTER"].admin_import_max_mb
    return render_template("admin/imports.html", lists=lists, jobs=jobs, slugs=slugs,
                           error=error, max_mb=max_mb), status


@blueprint.get("/imports")
@auth.require_role("admin")
def imports() -> tuple[str, int]:
    return _page()


def check_csv(path: Path) -> bool:
    """Raises UploadRefused for a file that is not UTF-8 CSV with addresses in it. Answers
    whether its first row is a header (naming an ``email`` column)."""
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if not head.strip():
        raise UploadRefused("the file is empty")
    if b"\x00" in head:
        raise UploadRefused("this is not a CSV file (it holds binary data); export the sheet as CSV")
    if not _looks_utf8(head, whole=len(head) < SNIFF_BYTES):
        raise UploadRefused(
            "the file is not UTF-8 text; save it as \"CSV UTF-8\" (Excel) or re-encode it")
    text = codecs.getincrementaldecoder("utf-8-sig")(errors="replace").decode(head, final=False)
    first = next(csv.reader(io.StringIO(text, newline="")), [])
    if "email" in (cell.strip().lower() for cell in first):
        return True
    try:
        normalise_address(first[0] if first else "")
    except InvalidAddress:
        raise UploadRefused(
            "no email column: the first row must name the columns, one of them \"email\""
            " (or every row must start with an address)") from None
    return False


def _looks_utf8(head: bytes, whole: bool) -> bool:
    """Whether the file is UTF-8 with perhaps a few broken rows (those are reported, row by
    row), rather than another encoding: then not one line with non-ASCII bytes decodes."""
    good = bad = 0
    lines = head.splitlines()
    for line in lines if whole else lines[:-1]:  # the last may be cut mid-character
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            bad += 1
        else:
            good += 1
    return good > 0 or bad == 0


@blueprint.post("/imports")
@auth.require_role("admin")
def upload_import() -> Response | tuple[str, int]:
    config = current_app.config["NEWSLETTER"]
    request.max_content_length = config.admin_import_max_mb * 1024 * 1024
    try:
        validate_csrf(request.form.get("csrf_token"))
    except RequestEntityTooLarge:
        # The page's own forms look at the posted form too: give them an empty one rather
        # than the body that is too large to read.
        request.__dict__["form"] = request.__dict__["files"] = ImmutableMultiDict()
        return _page(f"the file is larger than {config.admin_import_max_mb} MB"
                     " (NEWSLETTER_ADMIN_IMPORT_MAX_MB); split it", 413)
    except ValidationError as exc:
        raise CSRFError(str(exc)) from None
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _page("choose a CSV file to import", 400)
    slug = request.form.get("list", "")
    mailing_list: MailingList | None = None
    if SLUG.match(slug):  # else no list's key (and PostgreSQL refuses a NUL to compare)
        with _db().session() as session:
            mailing_list = session.scalars(
                select(MailingList).where(MailingList.slug == slug)).one_or_none()
    if mailing_list is None:
        return _page("choose the list to import into", 400)
    folder = config.instance_dir / UPLOAD_DIR
    folder.mkdir(parents=True, exist_ok=True)
    relative = f"{UPLOAD_DIR}/{secrets.token_hex(12)}.csv"
    path = config.instance_dir / relative
    upload.save(path)
    try:
        has_header = check_csv(path)
    except UploadRefused as exc:
        path.unlink(missing_ok=True)
        return _page(str(exc), 400)
    with _db().session() as session:
        job = ImportJob(
            list_id=mailing_list.id, filename=CONTROL.sub("", upload.filename or "")[-255:],
            path=relative,
            confirmed=request.form.get("confirmed") == "on", created_by=current_user.email,
            status="queued", error="",
            total_rows=max(0, import_jobs.count_lines(path) - has_header),
            batches_done=0, rows_done=0, accepted=0, rejected=0, duplicates=0, created=0,
            subscribed=0,
        )
        session.add(job)
        session.flush()
        job_id = job.id
    audit.info("admin %s started import %s into list %s", current_user.email, job_id,
               mailing_list.slug)
    import_jobs.launch(config, _db(), job_id)
    return redirect(url_for("admin.import_job", job_id=job_id))


def _job(job_id: int) -> tuple[ImportJob, str]:
    with _db().session() as session:
        job = session.get(ImportJob, job_id)
        if job is None:
            abort(404)
        slug = session.get(MailingList, job.list_id).slug  # type: ignore[union-attr]
    return job, slug


@blueprint.get("/imports/<int:job_id>")
@auth.require_role("admin")
def import_job(job_id: int) -> str:
    job, slug = _job(job_id)
    return render_template("admin/import_job.html", job=job, slug=slug)


@blueprint.get("/imports/<int:job_id>/progress")
@auth.require_role("admin")
def import_progress(job_id: int) -> str:
    """The progress fragment htmx swaps in; it stops asking once the job is over."""
    job, _slug = _job(job_id)
    return render_template("admin/import_progress.html", job=job)


@blueprint.post("/imports/<int:job_id>/retry")
@auth.require_role("admin")
def retry_import(job_id: int) -> Response:
    with _db().session() as session:
        retried = import_jobs.retry(session, job_id)
    if retried:
        audit.info("admin %s retried import %s", current_user.email, job_id)
        import_jobs.launch(current_app.config["NEWSLETTER"], _db(), job_id)
    return redirect(url_for("admin.import_job", job_id=job_id))


def _error_lines(db, job_id: int) -> Iterator[str]:  # type: ignore[no-untyped-def]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(("row", "value", "reason"))
    after = 0
    while True:
        with db.session() as session:
            errors = import_jobs.errors_of(session, job_id, after, ERROR_PAGE)
        for error in errors:
            writer.writerow((error.line, guard_cell(error.value), guard_cell(error.reason)))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(errors) < ERROR_PAGE:
            return
        after = errors[-1].id


@blueprint.get("/imports/<int:job_id>/errors.csv")
@auth.require_role("admin")
def import_errors(job_id: int) -> Response:
    _job(job_id)
    response = Response(_error_lines(_db(), job_id), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="import-{job_id}-errors.csv"'
    return response
