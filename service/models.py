"""Every model, imported in one place so Alembic and create_all see the whole schema."""

from service.db import Base
from service.issues.models import CompiledIssue
from service.sending.models import OutboxMessage
from service.subscribers.models import MailingList, Subscriber, SubscriberEvent, Subscription

metadata = Base.metadata

__all__ = [
    "Base",
    "CompiledIssue",
    "MailingList",
    "OutboxMessage",
    "Subscriber",
    "SubscriberEvent",
    "Subscription",
    "metadata",
]
