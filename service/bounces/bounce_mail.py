"""Raw bounce mail in, an event recorded: what the inbound receiver and the mailbox poller
share.

Mail that the classifier cannot read is not recorded: its caller keeps it (the poller moves it
to the Unparsed folder) and reports it. So is mail whose VERP token is forged: it is refused,
never believed.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32

from service.bounces.classify import Classification, classify
from service.bounces.events import BounceReport, Bounces, Recorded, dedup_key, record_bounce
from service.bounces.locate import Clues, verp_token
from service.bounces.parse_original import message_id_of
from service.db import Database

# Outcomes a caller may act on: the first two are done with, the rest are kept.
DONE = ("recorded", "duplicate")
KEPT = ("unparsed", "forged")


@dataclass(frozen=True)
class MailOutcome:
    outcome: str  # recorded, duplicate, unparsed or forged
    kind: str = ""
    reason: str = ""
    detail: str = ""
    event_id: int | None = None
    action: str = ""

    @property
    def done(self) -> bool:
        return self.outcome in DONE


def _own_headers(raw: bytes) -> tuple[str, dt.datetime | None]:
    """The bounce's own Message-ID and Date (not the returned original's)."""
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw[:65536])
        message_id = message_id_of(str(headers.get("message-id", "") or ""))
        date = str(headers.get("date", "") or "")
        occurred = email.utils.parsedate_to_datetime(date) if date else None
        if occurred is not None and occurred.tzinfo is None:
            occurred = occurred.replace(tzinfo=dt.UTC)
        return message_id, occurred
    except (TypeError, ValueError, IndexError, LookupError):
        return "", None


def report_from_mail(raw: bytes, result: Classification, source: str,
                     envelope_local: str = "") -> BounceReport:
    """The report for a classified mail. ``envelope_local`` is the local part it was delivered
    to (the receiver knows it for sure); the bounce's own VERP address comes second."""
    own_id, occurred = _own_headers(raw)
    key = (dedup_key("mail", own_id.lower()) if own_id
           else f"mail-sha256:{hashlib.sha256(raw).hexdigest()}")
    main = next((r.address for r in result.recipients if r.address), "")
    clues = Clues(
        verp_token=verp_token(envelope_local) or verp_token(result.verp_local),
        message_id=result.message_id, list_id=result.list_id, recipient=main,
    )
    return BounceReport(
        source=source, dedup_key=key, kind=result.kind, reason=result.reason, clues=clues,
        status=result.status, diagnostic=result.diagnostic, occurred_at=occurred, raw=raw,
    )


def handle_bounce_mail(db: Database, bounces: Bounces, raw: bytes, source: str,
                       envelope_local: str = "") -> MailOutcome:
    """Classify one raw mail and record it. Database errors propagate: the caller leaves the
    mail where it is (or answers 451) so that it comes back."""
    result = classify(raw)
    if result.error:
        return MailOutcome("unparsed", result.kind, result.reason, result.error)
    report = report_from_mail(raw, result, source, envelope_local)
    with db.session() as session:
        recorded: Recorded = record_bounce(session, bounces, report)
    detail = "forged VERP token" if recorded.outcome == "forged" else ""
    return MailOutcome(recorded.outcome, result.kind, result.reason, detail, recorded.event_id,
                       recorded.action)
