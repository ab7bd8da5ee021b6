"""Export a list's subscribers as CSV, streamed, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import IO

from sqlalchemy import select

from service.db import Database
from service.subscribers.models import MailingList, Subscriber, Subscription

COLUMNS = ("email", "name", "status", "list_status", "source", "signup_at", "confirmed_at", "attributes")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
GUARD = "'"
EXPORT_BATCH = 2000


def guard_cell(value: str) -> str:
    return GUARD + value if value.startswith(FORMULA_START) else value


def unguard_cell(value: str) -> str:
    """Undo guard_cell, so an exported file imports back to the same values."""
    if value.startswith(GUARD) and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value


def _rows(db: Database, mailing_list: MailingList, status: str | None) -> Iterator[list[str]]:
    query = (
        select(Subscriber, Subscription.status)
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .where(Subscription.list_id == mailing_list.id)
        .order_by(Subscriber.id)
        .execution_options(yield_per=EXPORT_BATCH)
    )
    if status:
        query = query.where(Subscription.status == status)
    with db.session() as session:
        for subscriber, list_status in session.execute(query):
            yield [
                subscriber.email,
                subscriber.name,
                subscriber.status,
                list_status,
                subscriber.source,
                subscriber.signup_at.isoformat() if subscriber.signup_at else "",
                subscriber.confirmed_at.isoformat() if subscriber.confirmed_at else "",
                json.dumps(subscriber.attributes, ensure_ascii=False) if subscriber.attributes else "",
            ]
            session.expunge(subscriber)  # keep the identity map from growing with the list


def export_csv(db: Database, out: IO[str], mailing_list: MailingList, status: str | None = None) -> int:
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    count = 0
    for row in _rows(db, mailing_list, status):
        writer.writerow([guard_cell(cell) for cell in row])
        count += 1
    return count
