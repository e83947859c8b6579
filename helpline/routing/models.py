"""Urgent alerts, the pages they sent, and volunteer SMS commands already handled."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from helpline.db import Base, BigId, UTCDateTime

OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"


class Alert(Base):
    """An urgent conversation that a person must take; escalates until acknowledged."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_conversation_status", "conversation_id", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))  # open, acknowledged, resolved
    source: Mapped[str] = mapped_column(String(32))  # flow, risk_lexicon, volunteer
    # The escalation chain as it was when the alert opened (edits never change it).
    chain: Mapped[dict[str, Any]] = mapped_column(JSON)
    step_index: Mapped[int] = mapped_column(default=0)
    cycle: Mapped[int] = mapped_column(default=0)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AlertPage(Base):
    """One page sent to one volunteer for an alert."""

    __tablename__ = "alert_pages"
    __table_args__ = (Index("ix_alert_pages_user", "user_id", "paged_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    tier: Mapped[str] = mapped_column(String(32))
    paged_at: Mapped[datetime] = mapped_column(UTCDateTime)


class VolunteerCommand(Base):
    """A volunteer's SMS command already handled (so a redelivery does nothing twice)."""

    __tablename__ = "volunteer_commands"
    __table_args__ = (UniqueConstraint("provider_sid", name="uq_volunteer_commands_provider_sid"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider_sid: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
