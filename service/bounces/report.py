"""Per send: bounces, complaints and unsubscribes, their rates and reasons, and the warnings
that mailbox providers' limits call for.

Rates are over the messages that went out (ledger rows now ``sent``, ``bounced``,
``complained`` or ``failed``). Unsubscribes are not tied to a send by their links, so a send
is credited with those of its readers between its start and the start of the next send.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from service.bounces.models import BounceEvent
from service.sending.models import Delivery, Send
from service.sending.states import DeliveryStatus as DS
from service.subscribers.models import SubscriberEvent

log = logging.getLogger(__name__)
# Gmail and Yahoo want complaints well under 0.3%; warn long before.
COMPLAINT_RATE_WARNING = 0.001
HARD_BOUNCE_RATE_WARNING = 0.02
WENT_OUT = (DS.SENT, DS.BOUNCED, DS.COMPLAINED, DS.FAILED)


@dataclass
class SendBounces:
    send_id: int
    went_out: int = 0
    hard: int = 0
    soft: int = 0
    complaints: int = 0
    unsubscribes: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # hard and soft bounces by reason
    warnings: list[str] = field(default_factory=list)

    def rate(self, count: int) -> float:
        return count / self.went_out if self.went_out else 0.0

    @property
    def hard_rate(self) -> float:
        return self.rate(self.hard)

    @property
    def complaint_rate(self) -> float:
        return self.rate(self.complaints)

    def as_dict(self) -> dict:
        data = asdict(self)
        data.update(hard_rate=self.hard_rate, soft_rate=self.rate(self.soft),
                    complaint_rate=self.complaint_rate,
                    unsubscribe_rate=self.rate(self.unsubscribes))
        return data


def _went_out(session: Session, send_id: int) -> int:
    return session.scalar(
        select(func.count()).select_from(Delivery)
        .where(Delivery.send_id == send_id, Delivery.status.in_(WENT_OUT))
    ) or 0


def _readers(session: Session, send_id: int, kind: str) -> int:
    """Readers of the send with an event of this kind (a reader who bounced twice is one)."""
    return session.scalar(
        select(func.count(distinct(BounceEvent.subscriber_id)))
        .where(BounceEvent.send_id == send_id, BounceEvent.kind == kind)
    ) or 0


def send_bounces(session: Session, send_id: int) -> SendBounces:
    report = SendBounces(send_id, went_out=_went_out(session, send_id))
    report.hard = _readers(session, send_id, "hard")
    report.soft = _readers(session, send_id, "soft")
    report.complaints = _readers(session, send_id, "complaint")
    rows = session.execute(
        select(BounceEvent.reason, func.count()).where(
            BounceEvent.send_id == send_id, BounceEvent.kind.in_(("hard", "soft")))
        .group_by(BounceEvent.reason)
    ).all()
    report.reasons = dict(sorted(rows, key=lambda row: (-row[1], row[0])))
    report.unsubscribes = _unsubscribes(session, send_id)
    report.warnings = rate_warnings(report)
    return report


def _unsubscribes(session: Session, send_id: int) -> int:
    send = session.get(Send, send_id)
    if send is None or send.started_at is None:
        return 0
    next_start = session.scalar(
        select(func.min(Send.started_at)).where(Send.started_at > send.started_at))
    readers = select(Delivery.subscriber_id).where(Delivery.send_id == send_id)
    query = select(func.count(distinct(SubscriberEvent.subscriber_id))).where(
        SubscriberEvent.kind == "unsubscribe", SubscriberEvent.source != "complaint",
        SubscriberEvent.at >= send.started_at, SubscriberEvent.subscriber_id.in_(readers))
    if next_start is not None:
        query = query.where(SubscriberEvent.at < next_start)
    return session.scalar(query) or 0


def rate_warnings(report: SendBounces) -> list[str]:
    warnings = []
    if report.complaint_rate > COMPLAINT_RATE_WARNING:
        warnings.append(
            f"complaint rate {report.complaint_rate:.2%} is above {COMPLAINT_RATE_WARNING:.1%}:"
            " mailbox providers start filtering or blocking at 0.3%")
    if report.hard_rate > HARD_BOUNCE_RATE_WARNING:
        warnings.append(
            f"hard-bounce rate {report.hard_rate:.2%} is above {HARD_BOUNCE_RATE_WARNING:.0%}:"
            " the list holds dead addresses (an old import?)")
    return warnings


def log_rate_warnings(session: Session, send_id: int, kind: str) -> None:
    """Log a warning when an event of ``kind`` takes its send over a threshold, once: when
    the count reaches the first number past it.

    Cheap enough for every event: the events are counted on their (send, kind) index alone,
    over the send's recipients (``Send.total``) rather than the messages that went out, which
    would scan the send's ledger each time (the two differ only by readers skipped or still
    waiting). ``sends show`` reports the exact rates."""
    threshold = {"hard": HARD_BOUNCE_RATE_WARNING, "complaint": COMPLAINT_RATE_WARNING}.get(kind)
    total = session.scalar(select(Send.total).where(Send.id == send_id)) or 0
    if threshold is None or not total:
        return
    count = session.scalar(select(func.count()).select_from(BounceEvent).where(
        BounceEvent.send_id == send_id, BounceEvent.kind == kind)) or 0
    if (count - 1) / total <= threshold < count / total:
        label = "hard-bounce" if kind == "hard" else "complaint"
        log.warning("send %s: %s rate %.2f%% passed %.1f%% (%s of %s)", send_id, label,
                    100 * count / total, 100 * threshold, count, total)
