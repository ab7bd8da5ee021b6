"""Sends: create one from a compiled issue, start it (write the delivery ledger), schedule,
pause, resume, cancel, and report progress."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from service.db import utcnow
from service.issues.compile import CompiledEmail
from service.sending.models import Delivery, Send
from service.subscribers.models import MailingList

# A schedule this far in the past is not sent silently: it waits for an explicit resume.
MISSED_SCHEDULE = dt.timedelta(hours=1)
ACTIVE = ("scheduled", "sending", "paused", "finished")


class SendError(ValueError):
    """The send cannot be made or changed this way; the message says why."""


def compiled_from_send(send: Send) -> CompiledEmail:
    """The frozen compiled email of a send."""
    return CompiledEmail(
        slug=send.issue_slug, title=send.subject, date="", subject=send.subject,
        preheader="", html=send.html, text=send.text, tokens=json.loads(send.tokens),
        content_hash=send.content_hash,
    )


def create_send(
    session: Session,
    compiled: CompiledEmail,
    lists: list[MailingList],
    *,
    mail_from: str,
    reply_to: str = "",
    scheduled_at: dt.datetime | None = None,
    again: bool = False,
) -> Send:
    if not lists:
        raise SendError("a send needs at least one list")
    list_ids = sorted({m.id for m in lists})
    if not again:
        for earlier in session.scalars(
            select(Send).where(Send.issue_slug == compiled.slug, Send.status.in_(ACTIVE))
        ):
            overlap = set(parse_list_ids(earlier)) & set(list_ids)
            if overlap:
                raise SendError(
                    f"issue {compiled.slug!r} already went to these lists in send {earlier.id}"
                    f" ({earlier.status}); pass --again to send it once more"
                )
    send = Send(
        issue_slug=compiled.slug,
        status="scheduled" if scheduled_at else "draft",
        content_hash=compiled.content_hash,
        subject=compiled.subject,
        html=compiled.html,
        text=compiled.text,
        tokens=json.dumps(dict(compiled.tokens)),
        mail_from=mail_from,
        reply_to=reply_to,
        list_ids=",".join(str(i) for i in list_ids),
        scheduled_at=scheduled_at,
        total=0,
        consecutive_errors=0,
        status_reason="",
    )
    session.add(send)
    session.flush()
    return send


def parse_list_ids(send: Send) -> list[int]:
    return [int(part) for part in send.list_ids.split(",") if part]


def start_send(session: Session, send: Send) -> int:
    """Write one queued delivery per confirmed, non-suppressed subscriber of the send's lists,
    in a single INSERT ... SELECT. Idempotent: a second start adds nobody twice."""
    if send.status not in ("draft", "scheduled"):
        raise SendError(f"send {send.id} is {send.status}; only a draft or scheduled send starts")
    ids = parse_list_ids(send)
    placeholders = ", ".join(f":l{i}" for i in range(len(ids)))
    result = session.execute(
        text(
            "INSERT INTO delivery (send_id, subscriber_id, list_id, status, attempts, last_reply)"
            " SELECT :send_id, sub.subscriber_id, MIN(sub.list_id), 'queued', 0, ''"
            " FROM subscription sub JOIN subscriber s ON s.id = sub.subscriber_id"
            f" WHERE sub.list_id IN ({placeholders}) AND sub.status = 'confirmed'"
            " AND s.status = 'confirmed'"
            " GROUP BY sub.subscriber_id"
            " ON CONFLICT (send_id, subscriber_id) DO NOTHING"
        ),
        {"send_id": send.id, **{f"l{i}": list_id for i, list_id in enumerate(ids)}},
    )
    send.total = session.scalar(
        select(func.count()).select_from(Delivery).where(Delivery.send_id == send.id)
    ) or 0
    send.status, send.started_at, send.status_reason = "sending", utcnow(), ""
    return result.rowcount


def due_scheduled(session: Session, now: dt.datetime | None = None) -> tuple[list[Send], list[Send]]:
    """(sends to start now, sends whose time passed too long ago and now wait for a resume)."""
    now = now or utcnow()
    due = list(session.scalars(
        select(Send).where(Send.status == "scheduled", Send.scheduled_at <= now).with_for_update()
    ))
    missed = [s for s in due if s.scheduled_at and now - s.scheduled_at > MISSED_SCHEDULE]
    return [s for s in due if s not in missed], missed


def pause_send(session: Session, send: Send, reason: str) -> None:
    if send.status not in ("sending", "scheduled"):
        raise SendError(f"send {send.id} is {send.status}; only a running or scheduled send pauses")
    send.status, send.status_reason = "paused", reason
    release_leases(session, send.id)


def resume_send(session: Session, send: Send) -> bool:
    """Continue a paused send. Returns True when its ledger still has to be written."""
    if send.status != "paused":
        raise SendError(f"send {send.id} is {send.status}; only a paused send resumes")
    send.consecutive_errors, send.status_reason = 0, ""
    if send.started_at is None:  # paused before it started (a missed schedule)
        send.status = "draft"
        return True
    send.status = "sending"
    return False


def cancel_send(session: Session, send: Send) -> None:
    if send.status in ("finished", "cancelled", "failed"):
        raise SendError(f"send {send.id} is {send.status} already")
    send.status, send.finished_at = "cancelled", utcnow()
    release_leases(session, send.id)


def release_leases(session: Session, send_id: int) -> None:
    """Rows claimed but not sent go back to the queue."""
    session.execute(
        update(Delivery)
        .where(Delivery.send_id == send_id, Delivery.status == "sending")
        .values(status="queued", lease_until=None)
    )


@dataclass(frozen=True)
class Progress:
    send: Send
    counts: dict[str, int]

    @property
    def remaining(self) -> int:
        return sum(self.counts.get(s, 0) for s in ("queued", "sending", "deferred"))

    @property
    def done(self) -> int:
        return self.send.total - self.remaining


def progress(session: Session, send_id: int) -> Progress:
    send = session.get(Send, send_id)
    if send is None:
        raise SendError(f"no send {send_id}")
    rows = session.execute(
        select(Delivery.status, func.count()).where(Delivery.send_id == send_id).group_by(Delivery.status)
    ).all()
    return Progress(send, {status: count for status, count in rows})


def get_send(session: Session, send_id: int, lock: bool = False) -> Send:
    query = select(Send).where(Send.id == send_id)
    send = session.scalars(query.with_for_update() if lock else query).one_or_none()
    if send is None:
        raise SendError(f"no send {send_id}")
    return send
