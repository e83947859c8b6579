"""Import every table so that ``Base.metadata`` is complete (Alembic, tests)."""

from helpline.audit.models import AuditEvent
from helpline.console.models import UserSession
from helpline.conversations.models import Contact, Conversation, Message
from helpline.db import Base
from helpline.inbox.models import InboxMessage
from helpline.jobs.models import Job
from helpline.outbox.models import DeliveryEvent, OutboxMessage
from helpline.routing.models import Alert, AlertPage, VolunteerCommand
from helpline.users.models import User

__all__ = [
    "Alert",
    "AlertPage",
    "AuditEvent",
    "Base",
    "Contact",
    "Conversation",
    "DeliveryEvent",
    "InboxMessage",
    "Job",
    "Message",
    "OutboxMessage",
    "User",
    "UserSession",
    "VolunteerCommand",
]
