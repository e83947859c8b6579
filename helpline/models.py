"""Import every table so that ``Base.metadata`` is complete (Alembic, tests)."""

from helpline.audit.models import AuditEvent
from helpline.conversations.models import Contact, Conversation, Message
from helpline.db import Base
from helpline.jobs.models import Job
from helpline.outbox.models import DeliveryEvent, OutboxMessage

__all__ = [
    "AuditEvent",
    "Base",
    "Contact",
    "Conversation",
    "DeliveryEvent",
    "Job",
    "Message",
    "OutboxMessage",
]
