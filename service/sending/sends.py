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
from service.sending.states import ACTIVE_SENDS, ENDED_SENDS, UNFINISHED, SendStatus
from service.sending.states import DeliveryStatus as DS
from service.subscribers.list_settings import sender_for
from service.subscribers.models import MailingList

# A schedule this far in the past is not sent silently: it waits for an explicit resume.
MISSED_SCHEDULE = dt.timedelta(hours=1)
MISSED_REASON = "its scheduled time passed more than an hour ago; resume to send"


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
    # A list's own sender and reply-to, set in the admin, win over the defaults given.
    mail_from, reply_to = sender_for(lists, mail_from, reply_to)
    list_ids = sorted({m.id for m in lists})
    if not again:
        for earlier in session.scalars(
            select(Send).where(Send.issue_slug == compiled.slug, Send.status.in_(ACTIVE_SENDS))
        ):
            overlap = set(parse_list_ids(earlier)) & set(list_ids)
            if overlap:
                raise SendError(
                    f"issue {compiled.slug!r} already went to these lists in send {earlier.id}"
                    f" ({earlier.status}); pass --again to send it once more"
                )
    send = Send(
        issue_slug=compiled.slug,
        status=SendStatus.DRAFT,
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
    apply_schedule(send, scheduled_at)
    session.add(send)
    session.flush()
    return send


def apply_schedule(send: Send, when: dt.datetime | None, now: dt.datetime | None = None) -> None:
    """The one rule for a send's time: none or now (a draft, to start), in the future
    (scheduled, beat starts it), or missed by more than MISSED_SCHEDULE (paused with the
    reason, until someone resumes it). A time missed by less is sent at once."""
    now = now or utcnow()
    send.scheduled_at = when
    if when is None or when <= now and now - when <= MISSED_SCHEDULE:
        send.status = SendStatus.DRAFT
    elif when > now:
        send.status = SendStatus.SCHEDULED
    else:
        send.status, send.status_reason = SendStatus.PAUSED, MISSED_REASON


def parse_list_ids(send: Send) -> list[int]:
    return [int(part) for part in send.list_ids.split(",") if part]


def start_send(session: Session, send: Send) -> int:
    """Write one queued delivery per confirmed, non-suppressed subscriber of the send's lists,
    in a single INSERT ... SELECT. Idempotent: a second start adds nobody twice."""
    if send.status not in (SendStatus.DRAFT, SendStatus.SCHEDULED):
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
    send.status, send.started_at, send.status_reason = SendStatus.SENDING, utcnow(), ""
    return result.rowcount


def due_scheduled(session: Session, now: dt.datetime | None = None) -> list[Send]:
    """Scheduled sends whose time has come, after apply_schedule: each is now a draft to
    start, or paused because its time was missed."""
    now = now or utcnow()
    due = list(session.scalars(
        select(Send).where(Send.status == SendStatus.SCHEDULED, Send.scheduled_at <= now)
        .with_for_update()
    ))
    for send in due:
        apply_schedule(send, send.scheduled_at, now)
    return [send for send in due if send.status == SendStatus.DRAFT]


def pause_send(session: Session, send: Send, reason: str) -> None:
    """Running batches see it before their next message and give their rows back."""
    if send.status not in (SendStatus.SENDING, SendStatus.SCHEDULED):
        raise SendError(f"send {send.id} is {send.status}; only a running or scheduled send pauses")
    send.status, send.status_reason = SendStatus.PAUSED, reason


def resume_send(session: Session, send: Send, now: dt.datetime | None = None) -> bool:
    """Continue a paused send. A send paused before it started keeps a future schedule, or
    becomes a draft to start now. Returns True when its ledger still has to be written."""
    if send.status != SendStatus.PAUSED:
        raise SendError(f"send {send.id} is {send.status}; only a paused send resumes")
    now = now or utcnow()
    send.consecutive_errors, send.status_reason = 0, ""
    if send.started_at is None:
        future = send.scheduled_at if send.scheduled_at and send.scheduled_at > now else None
        send.status = SendStatus.SCHEDULED if future else SendStatus.DRAFT
        return future is None
    send.status = SendStatus.SENDING
    # Rows the server (not the reader's mailbox) deferred are due again at once.
    session.execute(
        update(Delivery).where(Delivery.send_id == send.id, Delivery.status == DS.DEFERRED,
                               Delivery.deferred_since.is_(None))
        .values(next_attempt_at=now)
    )
    return False


def cancel_send(session: Session, send: Send) -> None:
    """Nothing more goes out; running batches stop before their next message."""
    if send.status in ENDED_SENDS:
        raise SendError(f"send {send.id} is {send.status} already")
    send.status, send.finished_at = SendStatus.CANCELLED, utcnow()


@dataclass(frozen=True)
class Progress:
    send: Send
    counts: dict[str, int]

    @property
    def remaining(self) -> int:
        return sum(self.counts.get(s, 0) for s in UNFINISHED)

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
