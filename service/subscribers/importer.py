"""Import subscribers from CSV: streamed in batches, so memory stays flat at any file size.

Good rows are imported, bad ones reported with their line number and reason. Addresses are
deduplicated case-insensitively, and a re-import changes nothing: existing subscribers and
subscriptions (unsubscribed ones above all) are left as they are. PostgreSQL takes each batch
through COPY into a temporary table; other databases through batched INSERTs.
"""

from __future__ import annotations

import csv
import io
import json
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from service.db import Database
from service.subscribers.addresses import InvalidAddress, clean_name, normalise_address
from service.subscribers.exporter import unguard_cell
from service.subscribers.models import MailingList, Subscriber, Subscription, utcnow

BATCH_SIZE = 20000
MAX_BAD_ROWS_KEPT = 1000
# Columns an export writes that describe state here; an import does not take them as data.
EXPORT_ONLY = frozenset({"status", "list_status", "source", "signup_at", "confirmed_at"})  # the report counts all, but lists only this many


@dataclass
class BadRow:
    line: int
    reason: str
    value: str = ""  # the address cell as the file had it


@dataclass
class ImportReport:
    rows: int = 0
    imported: int = 0  # new subscribers
    subscribed: int = 0  # new subscriptions to the list (new or existing subscribers)
    duplicates: int = 0  # repeated addresses within one batch of the file
    bad: list[BadRow] = field(default_factory=list)
    bad_count: int = 0

    def add_bad(self, line: int, reason: str, value: str = "") -> None:
        self.bad_count += 1
        if len(self.bad) < MAX_BAD_ROWS_KEPT:
            self.bad.append(BadRow(line, reason, value))


@dataclass(frozen=True)
class Row:
    line: int
    email: str
    key: str
    name: str
    attributes: dict[str, Any]


def _attributes(cell: str) -> dict[str, Any]:
    if not cell.strip():
        return {}
    try:
        value = json.loads(cell)
    except ValueError:
        return {"attributes": cell}
    return value if isinstance(value, dict) else {"attributes": cell}


def parse_rows(stream: IO[str], report: ImportReport) -> Iterator[Row]:
    """The file's good rows; bad ones go to ``report`` as they are met."""
    return _rows(stream, report)


def _rows(stream: IO[str], report: ImportReport) -> Iterator[Row]:
    reader = csv.reader(stream)
    header: list[str] | None = None
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            report.rows += 1
            report.add_bad(reader.line_num, f"unreadable CSV: {exc}")
            continue
        line = reader.line_num
        if header is None:
            lowered = [cell.strip().lower() for cell in cells]
            if "email" in lowered:
                header = lowered
                continue
            header = ["email", "name"]
        report.rows += 1
        if not any(cell.strip() for cell in cells):
            report.add_bad(line, "empty row")
            continue
        values = dict(zip(header, cells, strict=False))
        raw_email = values.pop("email", "").strip()
        try:
            address = normalise_address(raw_email)
        except InvalidAddress as exc:
            report.add_bad(line, f"invalid address {raw_email!r}: {exc}", raw_email)
            continue
        name = clean_name(unguard_cell(values.pop("name", "")))
        attributes = _attributes(unguard_cell(values.pop("attributes", "")))
        attributes.update(
            (k, unguard_cell(v)) for k, v in values.items() if k and v and k not in EXPORT_ONLY
        )
        yield Row(line, address.email, address.key, name, attributes)


def _batches(rows: Iterator[Row], report: ImportReport, size: int) -> Iterator[list[Row]]:
    batch: dict[str, Row] = {}
    for row in rows:
        if row.key in batch:
            report.duplicates += 1
            continue
        batch[row.key] = row
        if len(batch) >= size:
            yield list(batch.values())
            batch = {}
    if batch:
        yield list(batch.values())


@dataclass
class Batch:
    rows: list[Row]
    copy_payload: bytes = b""  # for PostgreSQL, prepared on the parsing thread


def _insert_generic(session: Session, prepared: Batch, list_id: int, status: str) -> tuple[int, int]:
    batch = prepared.rows
    dialect_insert = sqlite.insert if session.bind.dialect.name == "sqlite" else postgresql.insert
    now = utcnow()
    subscriber_rows = [
        {
            "email": r.email, "email_key": r.key, "name": r.name, "attributes": r.attributes,
            "status": status, "status_changed_at": now, "status_source": "import",
            "created_at": now, "source": "import", "signup_at": now,
            "confirmed_at": now if status == "confirmed" else None,
        }
        for r in batch
    ]
    connection = session.connection()  # Core executemany: the ORM's bulk result has no rowcount
    created = connection.execute(
        dialect_insert(Subscriber.__table__).on_conflict_do_nothing(index_elements=["email_key"]),
        subscriber_rows,
    ).rowcount
    keys = [r.key for r in batch]
    ids = connection.execute(select(Subscriber.id).where(Subscriber.email_key.in_(keys))).scalars().all()
    subscription_rows = [
        {"subscriber_id": i, "list_id": list_id, "status": status, "source": "import",
         "created_at": now, "updated_at": now}
        for i in ids
    ]
    subscribed = connection.execute(
        dialect_insert(Subscription.__table__).on_conflict_do_nothing(
            index_elements=["subscriber_id", "list_id"]
        ),
        subscription_rows,
    ).rowcount
    return max(created, 0), max(subscribed, 0)


# COPY's text format: a backslash, tab, newline or carriage return inside a value is escaped.
COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_payload(batch: list[Row]) -> bytes:
    lines = []
    for r in batch:
        attributes = json.dumps(r.attributes, ensure_ascii=False) if r.attributes else "{}"
        fields = (r.email, r.key, r.name, attributes)
        lines.append("\t".join(f.translate(COPY_ESCAPES) for f in fields))
    lines.append("")
    return "\n".join(lines).encode("utf-8")


def _insert_postgres(session: Session, batch: Batch, list_id: int, status: str) -> tuple[int, int]:
    connection = session.connection().connection.driver_connection
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS import_batch "
            "(email text, email_key text, name text, attributes text) ON COMMIT DELETE ROWS"
        )
        with cursor.copy("COPY import_batch (email, email_key, name, attributes) FROM STDIN") as copy:
            copy.write(batch.copy_payload)
        # Without statistics the planner takes the batch for empty and may hash-join it
        # against the whole subscriber table, batch after batch.
        cursor.execute("ANALYZE import_batch")
    confirmed_at = "now()" if status == "confirmed" else "NULL"
    created = session.execute(
        text(
            "INSERT INTO subscriber (email, email_key, name, attributes, status, status_changed_at,"
            " status_source, created_at, source, signup_at, confirmed_at)"
            " SELECT email, email_key, name, attributes::json, :status, now(), 'import', now(),"
            f" 'import', now(), {confirmed_at} FROM import_batch"
            " ON CONFLICT (email_key) DO NOTHING"
        ),
        {"status": status},
    ).rowcount
    subscribed = session.execute(
        text(
            "INSERT INTO subscription (subscriber_id, list_id, status, source, created_at, updated_at)"
            " SELECT s.id, :list_id, :status, 'import', now(), now()"
            " FROM import_batch b JOIN subscriber s ON s.email_key = b.email_key"
            " ON CONFLICT (subscriber_id, list_id) DO NOTHING"
        ),
        {"list_id": list_id, "status": status},
    ).rowcount
    return created, subscribed


def insert_rows(session: Session, rows: list[Row], list_id: int, confirmed: bool) -> tuple[int, int]:
    """Insert one batch in the caller's transaction: (new subscribers, new subscriptions)."""
    status = "confirmed" if confirmed else "pending"
    if session.bind.dialect.name == "postgresql":
        return _insert_postgres(session, Batch(rows, _copy_payload(rows)), list_id, status)
    return _insert_generic(session, Batch(rows), list_id, status)


class CountingReader(io.RawIOBase):
    """Counts the bytes read from a binary file, for a progress bar over a text stream."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        self.bytes_read += len(data)
        return len(data)


def open_csv(raw: IO[bytes]) -> tuple[IO[str], CountingReader]:
    counter = CountingReader(raw)
    # Undecodable bytes become U+FFFD, so a broken row is reported instead of ending the import.
    stream = io.TextIOWrapper(io.BufferedReader(counter), encoding="utf-8-sig", errors="replace", newline="")
    return stream, counter


def _produce(stream: IO[str], report: ImportReport, size: int, out: queue.Queue,
             stop: threading.Event, for_copy: bool) -> None:
    """Parse and validate on a thread of its own, so Python works while the database does."""

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    try:
        for rows in _batches(_rows(stream, report), report, size):
            if not put(Batch(rows, _copy_payload(rows) if for_copy else b"")):
                return
        put(None)
    except BaseException as exc:  # handed to the consumer, which raises it
        put(exc)


def import_csv(
    db: Database,
    stream: IO[str],
    mailing_list: MailingList,
    *,
    confirmed: bool = False,
    batch_size: int = BATCH_SIZE,
    on_batch: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Import rows into ``mailing_list``; each batch commits on its own."""
    report = ImportReport()
    status = "confirmed" if confirmed else "pending"
    on_postgres = db.engine.dialect.name == "postgresql"
    insert_batch = _insert_postgres if on_postgres else _insert_generic
    batches: queue.Queue = queue.Queue(maxsize=1)  # bounded: memory stays at a few batches
    stop = threading.Event()
    producer = threading.Thread(
        target=_produce, args=(stream, report, batch_size, batches, stop, on_postgres),
        name="csv-import",
        daemon=True,
    )
    producer.start()
    try:
        while (batch := batches.get()) is not None:
            if isinstance(batch, BaseException):
                raise batch
            with db.session() as session:
                created, subscribed = insert_batch(session, batch, mailing_list.id, status)
            report.imported += created
            report.subscribed += subscribed
            if on_batch:
                on_batch(report)
    finally:
        stop.set()  # a producer still running (the import failed) stops at its next batch
        producer.join()
    return report
