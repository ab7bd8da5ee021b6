"""CSV imports started from the admin console: the uploaded file, its progress, its bad rows.

The file is kept in the instance folder and imported in batches by the importer's own
parsing and inserts (``service.subscribers.importer``). Each batch commits together with the
job's counters and the batch's bad rows, so a worker that dies mid-file loses nothing: the
next run re-reads the file, skips the batches already committed and goes on. A run holds a
lease on the job under a token of its own; a run whose lease was taken over writes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, and_, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from service.db import Base, Database, UTCDateTime, utcnow
from service.subscribers.importer import (
    BATCH_SIZE,
    ImportReport,
    Row,
    insert_rows,
    open_csv,
    parse_rows,
)

log = logging.getLogger(__name__)

IMPORT_STATUSES = ("queued", "running", "done", "failed")
# How long a run may go without finishing a batch before another run may take the job over.
LEASE = dt.timedelta(minutes=5)
# A queued job that no run took within this long lost its task; beat's sweep starts it.
QUEUED_GRACE = dt.timedelta(minutes=2)
# Bad rows kept per job for the error report (all are counted).
MAX_ERRORS_KEPT = 100_000
MAX_VALUE = 500


class ImportJob(Base):
    __tablename__ = "import_job"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_list.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(String(1000))  # relative to the instance folder
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(320), default="")
    status: Mapped[str] = mapped_column(String(12), default="queued")
    error: Mapped[str] = mapped_column(Text, default="")
    total_rows: Mapped[int] = mapped_column(Integer, default=0)  # estimated from line breaks
    batches_done: Mapped[int] = mapped_column(Integer, default=0)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)  # new subscribers
    subscribed: Mapped[int] = mapped_column(Integer, default=0)  # new subscriptions
    claim_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    @property
    def stalled(self) -> bool:
        """Running, but no batch for a whole lease: its worker died (a retry resumes it)."""
        return self.status == "running" and self.lease_until is not None and self.lease_until < utcnow()

    @property
    def percent(self) -> int:
        if self.status == "done":
            return 100
        return min(99, 100 * self.rows_done // self.total_rows) if self.total_rows else 0


class ImportRowError(Base):
    """One bad row of an import: its line in the file, the address cell, and why."""

    __tablename__ = "import_error"
    __table_args__ = (Index("ix_import_error_job_id", "job_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("import_job.id", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column(Integer)
    value: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(Text, default="")


@dataclass
class Chunk:
    """One batch of the file: its good rows and what was counted while reading them."""

    rows: list[Row]
    read: int = 0
    duplicates: int = 0
    bad: list[tuple[int, str, str]] = field(default_factory=list)


class _ChunkReport(ImportReport):
    """Collects bad rows per batch instead of keeping the first thousand of the file."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[tuple[int, str, str]] = []

    def add_bad(self, line: int, reason: str, value: str = "") -> None:
        self.bad_count += 1
        self.pending.append((line, value[:MAX_VALUE], reason[:MAX_VALUE]))


def read_chunks(stream, size: int) -> Iterator[Chunk]:  # type: ignore[no-untyped-def]
    """The file in batches of ``size`` distinct addresses, always ending with one more
    (maybe empty) chunk that carries the bad rows after the last good one. Deterministic, so
    a resumed run finds the same batches."""
    report = _ChunkReport()
    seen: dict[str, Row] = {}
    counted, duplicates = 0, 0
    for row in parse_rows(stream, report):
        if row.key in seen:
            duplicates += 1
            continue
        seen[row.key] = row
        if len(seen) >= size:
            yield Chunk(list(seen.values()), report.rows - counted, duplicates, report.pending)
            counted, duplicates, seen, report.pending = report.rows, 0, {}, []
    yield Chunk(list(seen.values()), report.rows - counted, duplicates, report.pending)


def count_lines(path: Path) -> int:
    """About how many rows a file has (line breaks; quoted ones count too), for the bar."""
    lines, last = 0, b"\n"
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n")


def claim(session: Session, job_id: int) -> str | None:
    """Take the job for one run, unless it is finished or another run's lease still holds."""
    token, now = secrets.token_hex(16), utcnow()
    taken = session.execute(
        update(ImportJob)
        .where(ImportJob.id == job_id, ImportJob.status.in_(("queued", "running")),
               or_(ImportJob.lease_until.is_(None), ImportJob.lease_until < now))
        .values(status="running", claim_token=token, lease_until=now + LEASE)
        .execution_options(synchronize_session=False)
    ).rowcount
    return token if taken == 1 else None


def lease_left(session: Session, job_id: int) -> float | None:
    """Seconds until another run may take the job over; None when there is nothing to run."""
    job = session.get(ImportJob, job_id)
    if job is None or job.status not in ("queued", "running"):
        return None
    if job.lease_until is None:
        return 0.0
    return max(0.0, (job.lease_until - utcnow()).total_seconds())


def _commit_chunk(session: Session, job: ImportJob, token: str, chunk: Chunk,
                  kept_errors: int) -> int:
    created, subscribed = insert_rows(session, chunk.rows, job.list_id, job.confirmed) if chunk.rows else (0, 0)
    room = max(0, MAX_ERRORS_KEPT - kept_errors)
    session.add_all(
        ImportRowError(job_id=job.id, line=line, value=value, reason=reason)
        for line, value, reason in chunk.bad[:room]
    )
    moved = session.execute(
        update(ImportJob)
        .where(ImportJob.id == job.id, ImportJob.claim_token == token)
        .values(
            batches_done=ImportJob.batches_done + 1,
            rows_done=ImportJob.rows_done + chunk.read,
            accepted=ImportJob.accepted + len(chunk.rows),
            rejected=ImportJob.rejected + len(chunk.bad),
            duplicates=ImportJob.duplicates + chunk.duplicates,
            created=ImportJob.created + created,
            subscribed=ImportJob.subscribed + subscribed,
            lease_until=utcnow() + LEASE,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:  # another run took the job over: this batch is theirs to write
        raise LeaseLost(job.id)
    return min(len(chunk.bad), room)


class LeaseLost(RuntimeError):
    """The job was taken over by another run; this one stops without writing."""


def run_import(db: Database, instance_dir: Path, job_id: int, *, batch_size: int = BATCH_SIZE) -> str:
    """Import the job's file from where the last run stopped. Answers the job's status, or
    "busy" when another run holds it (the caller tries again after its lease)."""
    with db.session() as session:
        token = claim(session, job_id)
        job = session.get(ImportJob, job_id)
        if job is None:
            return "missing"
        if token is None:
            return job.status if job.status in ("done", "failed") else "busy"
        skip, path = job.batches_done, instance_dir / job.path
        kept = job.rejected
    try:
        with path.open("rb") as raw:
            stream, _counter = open_csv(raw)
            for number, chunk in enumerate(read_chunks(stream, batch_size)):
                if number < skip:
                    continue  # committed by an earlier run
                with db.session() as session:
                    job = session.get(ImportJob, job_id)
                    kept += _commit_chunk(session, job, token, chunk, kept)
    except LeaseLost:
        log.warning("import %s: taken over by another run", job_id)
        return "busy"
    except OSError as exc:
        return _finish(db, job_id, token, "failed", f"the uploaded file cannot be read: {exc}")
    status = _finish(db, job_id, token, "done", "")
    if status == "done":  # the upload holds readers' addresses: kept only while needed
        path.unlink(missing_ok=True)
    return status


def _finish(db: Database, job_id: int, token: str, status: str, error: str) -> str:
    """Record the end, unless another run took the job over meanwhile ("busy" then)."""
    with db.session() as session:
        ended = session.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id, ImportJob.claim_token == token)
            .values(status=status, error=error, finished_at=utcnow(), lease_until=None)
            .execution_options(synchronize_session=False)
        ).rowcount
    if ended != 1:
        return "busy"
    log.info("import %s: %s", job_id, status)
    return status


def retry(session: Session, job_id: int) -> bool:
    """Let a failed or stalled job run again from its last committed batch."""
    job = session.get(ImportJob, job_id)
    if job is None or job.status == "done":
        return False
    if job.status == "running" and job.lease_until and job.lease_until > utcnow():
        return False
    job.status, job.error, job.lease_until, job.claim_token = "queued", "", None, None
    return True


def errors_of(session: Session, job_id: int, after_id: int, limit: int) -> list[ImportRowError]:
    """The job's bad rows in file order, a page at a time (the report is streamed)."""
    return list(session.scalars(
        select(ImportRowError)
        .where(ImportRowError.job_id == job_id, ImportRowError.id > after_id)
        .order_by(ImportRowError.id).limit(limit)
    ))


# The task's name; without Redis (embedded mode) the import runs on a thread of the web
# process instead, so it works whether or not a Celery worker is running.
TASK = "newsletter.import_csv"


def launch(config, db: Database, job_id: int) -> None:  # type: ignore[no-untyped-def]
    """Start the job's run after its row was committed."""
    if config.redis_url:
        from service.queue import BROKER_AWAY, enqueue

        try:
            enqueue(config, TASK, job_id)
            return
        except BROKER_AWAY as exc:  # the job is committed: run it here rather than not at all
            log.warning("import %s not queued (%s); running it in this process", job_id, exc)
    import threading

    thread = threading.Thread(target=_run_logged, args=(db, config.instance_dir, job_id),
                              name=f"import-{job_id}", daemon=True)
    thread.start()


def revive(config, db: Database, now: dt.datetime | None = None) -> list[int]:  # type: ignore[no-untyped-def]
    """Beat's part: start again every job whose run died (its lease ran out: a worker or web
    process stopped mid-file) or whose task was lost (queued for QUEUED_GRACE and never
    taken: Redis lost it, or the web process stopped before its thread ran). A run that is
    still alive keeps its job: ``claim`` refuses a second one. The ids started."""
    now = now or utcnow()
    with db.session() as session:
        ids = list(session.scalars(select(ImportJob.id).where(or_(
            and_(ImportJob.status == "running", ImportJob.lease_until < now),
            and_(ImportJob.status == "queued", ImportJob.lease_until.is_(None),
                 ImportJob.created_at < now - QUEUED_GRACE),
        ))))
    for job_id in ids:
        log.info("import %s has no live run: starting it again", job_id)
        launch(config, db, job_id)
    return ids


def _run_logged(db: Database, instance_dir: Path, job_id: int) -> None:
    try:
        run_import(db, instance_dir, job_id)
    except Exception:  # a thread has no one to raise to: the job stays retryable
        log.exception("import %s failed", job_id)
