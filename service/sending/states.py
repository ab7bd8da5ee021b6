"""The states of a send and of one delivery, named once."""

from __future__ import annotations

from enum import StrEnum


class SendStatus(StrEnum):
    DRAFT = "draft"  # made, its ledger not yet written
    SCHEDULED = "scheduled"  # beat starts it at scheduled_at
    SENDING = "sending"
    PAUSED = "paused"  # by an operator, or by itself with status_reason
    CANCELLED = "cancelled"
    FINISHED = "finished"
    FAILED = "failed"


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"  # claimed by a batch under its token and lease
    SENT = "sent"
    DEFERRED = "deferred"  # to be tried again at next_attempt_at
    FAILED = "failed"  # the reader's server refused it, or kept deferring past the window
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    SKIPPED = "skipped"  # no longer subscribed when its turn came


# A send that holds one of these has already gone (or will go) to its lists.
ACTIVE_SENDS = (SendStatus.SCHEDULED, SendStatus.SENDING, SendStatus.PAUSED, SendStatus.FINISHED)
ENDED_SENDS = (SendStatus.FINISHED, SendStatus.CANCELLED, SendStatus.FAILED)
# Rows with work left to do.
UNFINISHED = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.DEFERRED)
