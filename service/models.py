"""Every model, imported in one place so Alembic and create_all see the whole schema."""

from service.admin.models import AdminUser
from service.api.models import ApiToken
from service.bounces.models import BounceEvent, BounceMailbox, BounceRaw
from service.db import Base
from service.issues.models import CompiledIssue
from service.mail.models import OutboxMessage
from service.sending.models import Delivery, Send
from service.subscribers.import_jobs import ImportJob, ImportRowError
from service.subscribers.models import MailingList, Subscriber, SubscriberEvent, Subscription
from service.webhooks.models import WebhookDelivery, WebhookEndpoint

metadata = Base.metadata

__all__ = [
    "AdminUser",
    "ApiToken",
    "Base",
    "BounceEvent",
    "BounceMailbox",
    "BounceRaw",
    "CompiledIssue",
    "Delivery",
    "ImportJob",
    "ImportRowError",
    "MailingList",
    "OutboxMessage",
    "Send",
    "Subscriber",
    "SubscriberEvent",
    "Subscription",
    "WebhookDelivery",
    "WebhookEndpoint",
    "metadata",
]
