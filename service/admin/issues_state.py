"""What the dashboard lists: each issue in ``issues/`` with its state, from the sends made of it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.issues.loader import Issue
from service.sending.models import Send
from service.sending.states import SendStatus
from service.subscribers.models import MailingList


class IssueState(StrEnum):
    NEVER_SENT = "never sent"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    SENT = "sent"


# An issue with several sends shows the liveliest: one going out now says more than one that
# ended. A send that was cancelled, failed or never started leaves the issue "never sent".
STATE_PRECEDENCE = (
    (SendStatus.SENDING, IssueState.SENDING),
    (SendStatus.PAUSED, IssueState.PAUSED),
    (SendStatus.SCHEDULED, IssueState.SCHEDULED),
    (SendStatus.FINISHED, IssueState.SENT),
)


@dataclass(frozen=True)
class SendSummary:
    id: int
    status: str
    status_reason: str
    lists: tuple[str, ...]  # list slugs; "#<id>" for a list deleted since
    readers: int  # the recipients the send's ledger holds
    scheduled_at: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    @property
    def when(self) -> dt.datetime | None:
        return self.finished_at or self.started_at or self.scheduled_at


@dataclass(frozen=True)
class IssueRow:
    slug: str
    title: str
    date: dt.date | None
    draft: bool
    state: IssueState
    sends: tuple[SendSummary, ...]  # newest first
    file_missing: bool = False  # sent once, its file gone from issues/ since


def state_of(sends: Sequence[SendSummary]) -> IssueState:
    statuses = {send.status for send in sends}
    for status, state in STATE_PRECEDENCE:
        if status in statuses:
            return state
    return IssueState.NEVER_SENT


def list_issue_rows(session: Session, issues: Sequence[Issue]) -> list[IssueRow]:
    """One row per issue, in the order given, then one per slug that has sends but no file."""
    sends_by_slug = _sends_by_slug(session)
    rows = []
    for issue in issues:
        sends = tuple(sends_by_slug.pop(issue.slug, ()))
        rows.append(IssueRow(issue.slug, issue.title, issue.date, issue.draft, state_of(sends),
                             sends))
    for slug, sends in sorted(sends_by_slug.items()):
        rows.append(IssueRow(slug, slug, None, False, state_of(sends), tuple(sends),
                             file_missing=True))
    return rows


def _sends_by_slug(session: Session) -> dict[str, list[SendSummary]]:
    list_slugs = {row.id: row.slug for row in session.execute(select(MailingList.id, MailingList.slug))}
    # Named columns only: a send row also holds the whole compiled email.
    query = select(
        Send.id, Send.issue_slug, Send.status, Send.status_reason, Send.list_ids, Send.total,
        Send.scheduled_at, Send.started_at, Send.finished_at,
    ).order_by(Send.id.desc())
    grouped: dict[str, list[SendSummary]] = {}
    for row in session.execute(query):
        ids = [int(part) for part in row.list_ids.split(",") if part.strip().isdigit()]
        lists = tuple(list_slugs.get(list_id, f"#{list_id}") for list_id in ids)
        grouped.setdefault(row.issue_slug, []).append(SendSummary(
            row.id, row.status, row.status_reason, lists, row.total,
            row.scheduled_at, row.started_at, row.finished_at,
        ))
    return grouped
