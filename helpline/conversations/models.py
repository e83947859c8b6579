"""Tables of the contact log. No phone number or message text is stored in clear."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from helpline.db import Base, BigId, UTCDateTime, partial_index


class Contact(Base):
    """A young person, known only by a keyed pseudonym of their number."""

    __tablename__ = "contacts"
    __table_args__ = (
        # What retention still has to do, found without reading every contact (0011).
        partial_index("ix_contacts_with_address", "last_seen_at", where="address_enc IS NOT NULL"),
        partial_index("ix_contacts_linked", "last_seen_at", where="pseudonym_version > 0"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(64), unique=True)
    pseudonym_version: Mapped[int]
    # Where to reply (e.g. "whatsapp:+44..."), encrypted; deleted by retention.
    address_enc: Mapped[str | None] = mapped_column(Text)
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Conversation(Base):
    """One contact's exchange on one channel, from first message to close."""

    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_contact_open", "contact_id", "channel", "closed_at"),
        Index("ix_conversations_status_priority", "status", "priority"),
        Index("ix_conversations_queue", "status", "queued_at"),
        Index("ix_conversations_assigned_to", "assigned_to", "status"),
        partial_index("ix_conversations_open_by_update", "updated_at", where="closed_at IS NULL"),
        partial_index("ix_conversations_to_purge", "closed_at",
                      where="closed_at IS NOT NULL AND purged_at IS NULL"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))  # sms, whatsapp, webchat, voice
    # open, queued, assigned, closed
    status: Mapped[str] = mapped_column(String(16), default="open")
    priority: Mapped[str] = mapped_column(String(16), default="standard")
    language: Mapped[str | None] = mapped_column(String(16))
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    results: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    flow_id: Mapped[str | None] = mapped_column(String(64))
    flow_version: Mapped[str | None] = mapped_column(String(32))
    flow_state: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Free-text answers to flow questions: encrypted JSON, never statistics.
    answers_enc: Mapped[str | None] = mapped_column(Text)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    assigned_to: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_human_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    target_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When retention emptied its content (bodies, answers), once closed for bodies_days.
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Message(Base):
    """One message in or out; the body is encrypted and removed by retention."""

    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("provider_sid", name="uq_messages_provider_sid"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    direction: Mapped[str] = mapped_column(String(8))  # in, out
    author: Mapped[str] = mapped_column(String(16))  # contact, flow, volunteer, system
    body_enc: Mapped[str | None] = mapped_column(Text)
    # Twilio's MessageSid for inbound messages: the unique key that makes redelivery harmless.
    provider_sid: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    body_purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
