"""Triage fields: encrypted free-text answers and the time a conversation joined the queue.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from helpline.db import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add answers_enc and queued_at to conversations."""
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("answers_enc", sa.Text(), nullable=True))
        batch.add_column(sa.Column("queued_at", UTCDateTime(), nullable=True))
        batch.create_index("ix_conversations_queue", ["status", "queued_at"])


def downgrade() -> None:
    """Drop the triage fields."""
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index("ix_conversations_queue")
        batch.drop_column("queued_at")
        batch.drop_column("answers_enc")
