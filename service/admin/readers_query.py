"""The admin's reader list: search, filters and keyset pages that cost the same at any depth.

A page is found by walking an index from the last row of the page before (the cursor), never
by OFFSET and never by counting the table. A search is a prefix of the address (the
lower-cased ``email_key``) or of the name, each one range of an index (migration 0009 makes
them in the "C" collation on PostgreSQL, so the range is the prefix whatever the locale).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, exists, false, select, tuple_
from sqlalchemy.orm import Session

from service.subscribers.links import MAX_ID
from service.subscribers.models import (
    SUBSCRIBER_STATUSES,
    SUBSCRIPTION_STATUSES,
    SUPPRESSED_STATUSES,
    MailingList,
    Subscriber,
    Subscription,
)

PAGE_SIZE = 50
SORTS = ("newest", "email", "name")
FIELDS = ("email", "name")
# "suppressed" is any of bounced, complained, blocklisted. With a list chosen, pending,
# confirmed and unsubscribed are the subscription's status on that list.
FILTER_STATUSES = (*SUBSCRIBER_STATUSES, "suppressed")
MAX_QUERY = 320


class BadCursor(ValueError):
    """A cursor that this code did not make (edited by hand, or from another sort)."""


@dataclass(frozen=True)
class ReaderFilter:
    query: str = ""
    field: str = "email"  # what the query is a prefix of
    list_id: int | None = None
    status: str = ""
    sort: str = "newest"

    @property
    def effective_sort(self) -> str:
        """A search is ordered by what it searched, so it stays one walk of one index."""
        return self.field if self.query else self.sort


@dataclass
class ReaderRow:
    id: int
    email: str
    email_key: str
    name: str
    status: str
    created_at: dt.datetime
    confirmed_at: dt.datetime | None
    lists: list[tuple[str, str]] = field(default_factory=list)  # (list slug, status)


@dataclass
class ReaderPage:
    rows: list[ReaderRow]
    next_cursor: str | None
    prev_cursor: str | None


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(text: str, sort: str) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadCursor(text) from None
    kinds = {"newest": (int,), "email": (str,), "name": (str, int)}[sort]
    if not isinstance(values, list) or len(values) != len(kinds) or not all(
        isinstance(v, k) and not isinstance(v, bool) and _bindable(v)
        for v, k in zip(values, kinds, strict=True)
    ):
        raise BadCursor(text)
    return values


def _bindable(value: int | str) -> bool:
    """Whether the database can compare the value: an id in the id column's range, text
    without NUL (PostgreSQL refuses it; no stored address or name holds one)."""
    if isinstance(value, int):
        return 0 <= value <= MAX_ID
    return "\x00" not in value


def _sort_columns(sort: str, dialect: str) -> tuple[list[ColumnElement[Any]], bool]:
    """The ordering columns and whether they go downwards. On PostgreSQL the text keys are
    compared in "C", as the indexes are."""
    if sort == "newest":
        return [Subscriber.id], True
    column = Subscriber.email_key if sort == "email" else Subscriber.name
    key = column.collate("C") if dialect == "postgresql" else column
    if sort == "email":  # email_key is unique: no tie to break
        return [key], False
    return [key, Subscriber.id], False


def _successor(prefix: str) -> str | None:
    """The first string after every string that starts with ``prefix`` (code point order)."""
    for position in range(len(prefix) - 1, -1, -1):
        if ord(prefix[position]) < 0x10FFFF:
            return prefix[:position] + chr(ord(prefix[position]) + 1)
    return None


def _conditions(f: ReaderFilter, dialect: str) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if f.query:
        prefix = f.query.strip().lower() if f.field == "email" else f.query.strip()
        column = Subscriber.email_key if f.field == "email" else Subscriber.name
        key = column.collate("C") if dialect == "postgresql" else column
        if "\x00" in prefix:  # no address or name holds NUL, and PostgreSQL cannot compare it
            return [false()]
        conditions.append(key >= prefix)
        upper = _successor(prefix)
        if upper is not None:
            conditions.append(key < upper)
    on_list = f.status in SUBSCRIPTION_STATUSES and f.list_id is not None
    if f.list_id is not None:
        membership = [Subscription.subscriber_id == Subscriber.id, Subscription.list_id == f.list_id]
        if on_list:
            membership.append(Subscription.status == f.status)
        conditions.append(exists().where(*membership))
    if f.status == "suppressed":
        conditions.append(Subscriber.status.in_(sorted(SUPPRESSED_STATUSES)))
    elif f.status and not on_list:
        conditions.append(Subscriber.status == f.status)
    return conditions


def _after(columns: list[ColumnElement[Any]], downwards: bool, values: list[Any]) -> ColumnElement[bool]:
    if len(columns) == 1:
        return columns[0] < values[0] if downwards else columns[0] > values[0]
    row, given = tuple_(*columns), tuple_(*values)
    return row < given if downwards else row > given


def _cursor_of(row: ReaderRow, sort: str) -> str:
    if sort == "newest":
        return encode_cursor([row.id])
    if sort == "email":
        return encode_cursor([row.email_key])
    return encode_cursor([row.name, row.id])


def reader_page(session: Session, f: ReaderFilter, *, after: str | None = None,
                before: str | None = None, last: bool = False,
                size: int = PAGE_SIZE) -> ReaderPage:
    """One page: from the start, after a cursor, before a cursor, or the last page."""
    sort = f.effective_sort
    dialect = session.bind.dialect.name
    columns, downwards = _sort_columns(sort, dialect)
    backwards = before is not None or last
    conditions = _conditions(f, dialect)
    cursor = before if before is not None else after
    if cursor is not None and not last:
        conditions.append(_after(columns, downwards != backwards, decode_cursor(cursor, sort)))
    order = [c.desc() if downwards != backwards else c.asc() for c in columns]
    query = select(Subscriber).where(*conditions).order_by(*order).limit(size + 1)
    found = [_row(s) for s in session.scalars(query)]
    more = len(found) > size
    found = found[:size]
    if backwards:
        found.reverse()
    _add_lists(session, found)
    if backwards:
        has_prev, has_next = more, not last
    else:
        has_prev, has_next = after is not None, more
    return ReaderPage(
        rows=found,
        next_cursor=_cursor_of(found[-1], sort) if found and has_next else None,
        prev_cursor=_cursor_of(found[0], sort) if found and has_prev else None,
    )


def _row(subscriber: Subscriber) -> ReaderRow:
    return ReaderRow(subscriber.id, subscriber.email, subscriber.email_key, subscriber.name,
                     subscriber.status,
                     subscriber.created_at, subscriber.confirmed_at)


def _add_lists(session: Session, rows: list[ReaderRow]) -> None:
    """Each row's lists, in one query for the page."""
    if not rows:
        return
    by_id = {row.id: row for row in rows}
    for subscriber_id, slug, status in session.execute(
        select(Subscription.subscriber_id, MailingList.slug, Subscription.status)
        .join(MailingList, MailingList.id == Subscription.list_id)
        .where(Subscription.subscriber_id.in_(list(by_id)))
        .order_by(Subscription.subscriber_id, MailingList.slug)
    ):
        by_id[subscriber_id].lists.append((slug, status))


def iter_readers(db, f: ReaderFilter, size: int = 1000) -> Iterator[ReaderRow]:  # type: ignore[no-untyped-def]
    """Every reader the filter finds, page by page in its own short transaction each (for
    the export: nothing is held open while a slow client reads)."""
    after: str | None = None
    while True:
        with db.session() as session:
            page = reader_page(session, f, after=after, size=size)
        yield from page.rows
        if page.next_cursor is None:
            return
        after = page.next_cursor
