"""The users table: staff and volunteers. Their page phone is encrypted and pseudonymised."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from helpline.db import Base, BigId, UTCDateTime

ROLES = ("volunteer", "supervisor", "manager", "admin")
AVAILABILITY = ("available", "busy", "away")


class User(Base):
    """A person who answers or oversees conversations."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(Text)  # argon2
    phone_enc: Mapped[str | None] = mapped_column(Text)
    # Keyed pseudonym of the page phone: how an inbound text is recognised as theirs.
    phone_pseudonym: Mapped[str | None] = mapped_column(String(64), unique=True)
    phone_pseudonym_version: Mapped[int | None]
    capacity: Mapped[int] = mapped_column(default=3)
    availability: Mapped[str] = mapped_column(String(16), default="away")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
