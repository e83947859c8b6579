"""Outbox rows and the delivery callbacks Twilio sends about them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from helpline.db import Base, BigId, UTCDateTime, partial_index

PENDING, SENDING, SENT, FAILED, CANCELLED = "pending", "sending", "sent", "failed", "cancelled"


class OutboxMessage(Base):
    """One text waiting to go out, going out, or gone."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("provider_sid", name="uq_outbox_provider_sid"),
        Index("ix_outbox_due", "status", "next_attempt_at"),
        partial_index("ix_outbox_with_content", "created_at",
                      where="to_enc IS NOT NULL OR body_enc IS NOT NULL"),  # for retention
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))  # reply, page
    channel: Mapped[str] = mapped_column(String(16))  # sms, whatsapp
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    to_enc: Mapped[str | None] = mapped_column(Text)
    body_enc: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    provider_sid: Mapped[str | None] = mapped_column(String(64))
    delivery_status: Mapped[str | None] = mapped_column(String(16))
    error_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(200))  # never content
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DeliveryEvent(Base):
    """A status callback from Twilio, kept once per (MessageSid, MessageStatus)."""

    __tablename__ = "delivery_events"
    __table_args__ = (
        UniqueConstraint("provider_sid", "status", name="uq_delivery_events_sid_status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider_sid: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[int | None]
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
