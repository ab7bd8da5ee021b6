"""Every model, imported in one place so Alembic and create_all see the whole schema."""

from service.admin.models import AdminUser
from service.bounces.models import BounceEvent, BounceMailbox, BounceRaw
from service.db import Base
from service.issues.models import CompiledIssue
from service.mail.models import OutboxMessage
from service.sending.models import Delivery, Send
from service.subscribers.models import MailingList, Subscriber, SubscriberEvent, Subscription

metadata = Base.metadata

__all__ = [
    "AdminUser",
    "Base",
    "BounceEvent",
    "BounceMailbox",
    "BounceRaw",
    "CompiledIssue",
    "Delivery",
    "MailingList",
    "OutboxMessage",
    "Send",
    "Subscriber",
    "SubscriberEvent",
    "Subscription",
    "metadata",
]
