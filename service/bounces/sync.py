"""Refusals at RCPT TO, seen by the sending engine itself, recorded as bounces.

A 5xx answer to RCPT TO is the reader's server speaking about the reader's address, the same
as a DSN would later. The engine leaves such rows ``failed`` with a last reply like
``rcpt: 550 5.1.1 no such user``; this reads the reply with the classifier's own reason
tables (5.1.1 is an unknown user: hard; 552 is a full mailbox: soft), records an event and
lets the policy act. A recorded row becomes ``bounced``, so calling this again finds nothing
new, and the event's dedup key (the row and its attempt) keeps a race harmless.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.bounces.classify_recipients import Candidate, decide_reason, is_temporary
from service.bounces.events import BounceReport, Bounces, record_bounce
from service.bounces.locate import Clues
from service.bounces.reasons import kind_for
from service.bounces.reasons_codes import find_failure_status
from service.config import Config
from service.db import Database
from service.sending.models import Delivery
from service.sending.states import DeliveryStatus

log = logging.getLogger(__name__)
RCPT_PREFIX = "rcpt: "
SOURCE = "sync-rcpt"
# The stage words the reason tables read a bare reply code by ("550" at RCPT: unknown user).
RCPT_CONTEXT = "in reply to RCPT TO command"


def classify_reply(reply: str) -> tuple[str, str, str]:
    """(kind, reason, status) of an SMTP reply to RCPT TO, e.g. '550 5.1.1 no such user'."""
    status = find_failure_status(reply)
    candidate = Candidate("", status, reply, "failed", RCPT_CONTEXT)
    reason = decide_reason(candidate, RCPT_CONTEXT)
    return kind_for(reason, is_temporary(candidate)), reason, status


def refusal_reports(session: Session, send_id: int) -> list[BounceReport]:
    """One report per row of the send that a server refused at RCPT TO with a 5xx."""
    rows = session.execute(
        select(Delivery.id, Delivery.attempts, Delivery.last_reply).where(
            Delivery.send_id == send_id, Delivery.status == DeliveryStatus.FAILED,
            Delivery.last_reply.like(f"{RCPT_PREFIX}5%"))
    ).all()
    reports = []
    for delivery_id, attempts, last_reply in rows:
        reply = last_reply[len(RCPT_PREFIX):]
        kind, reason, status = classify_reply(reply)
        reports.append(BounceReport(
            source=SOURCE, dedup_key=f"rcpt:{delivery_id}:{attempts}", kind=kind,
            reason=reason, clues=Clues(delivery_id=delivery_id), status=status,
            diagnostic=reply))
    return reports


def record_sync_refusals(db: Database, config: Config, send_id: int) -> int:
    """Record the send's RCPT refusals not yet recorded; answers how many. Never raises: the
    sending engine calls it after a batch, and a failure here must not fail the batch (the
    next batch of the send tries again)."""
    try:
        bounces = Bounces.from_config(config)
        recorded = 0
        with db.session() as session:
            for report in refusal_reports(session, send_id):
                if record_bounce(session, bounces, report).outcome == "recorded":
                    recorded += 1
        return recorded
    except Exception:  # noqa: BLE001 - see the docstring
        log.exception("send %s: recording refusals at RCPT failed; will try again", send_id)
        return 0
