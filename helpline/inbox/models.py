"""Inbox rows: an inbound message as received, encrypted, until the worker has handled it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text, UniqueConstraint, and_, false, text
from sqlalchemy.orm import Mapped, mapped_column

from helpline.db import Base, BigId, UTCDateTime, partial_index

LEASED = "claimed_until IS NOT NULL"  # see ix_inbox_sender_leased

PENDING, DONE, FAILED = "pending", "done", "failed"


class InboxMessage(Base):
    """One inbound message; its encrypted copies are cleared once it is processed."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("provider_sid", name="uq_inbox_provider_sid"),
        # The claim's order (urgent first, then arrival), walked without sorting; with
        # what the claim asks of each row, so that it reads no table rows as it walks.
        Index("ix_inbox_urgent_first", "status", text("urgent DESC"), "id", "sender_key",
              "claimed_until"),
        # Whether a sender's earlier text is being filed: asked of leased rows only, so
        # a webhook's new row is not in it (migration 0012 says what that saves).
        partial_index("ix_inbox_sender_leased", "sender_key", "id", where=LEASED),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider_sid: Mapped[str] = mapped_column(String(64))
    address_enc: Mapped[str | None] = mapped_column(Text)
    body_enc: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Rated urgent by the risk lexicon on arrival: filed (and paged) before the rest.
    urgent: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The sender's pseudonym, so that one sender's messages are still filed in order.
    sender_key: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The exception type of the last failed attempt, never its message. Claiming clears
    # it: a leased row without one is being filed now, and holds back its sender's later
    # ordinary texts (``helpline.inbox.worker._earlier_text_being_filed``).
    last_error: Mapped[str | None] = mapped_column(String(200))
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# Failed, with its content still there: a text a person can still act on (retry, read).
KEPT_FOR_A_PERSON = and_(InboxMessage.status == FAILED, InboxMessage.body_enc.is_not(None))
