"""Inbox: find a sender's pending texts by index, so urgent claims stay cheap under a backlog.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Index inbox.sender_key (with status)."""
    op.create_index("ix_inbox_sender", "inbox", ["sender_key", "status"])


def downgrade() -> None:
    """Drop the index."""
    op.drop_index("ix_inbox_sender", table_name="inbox")
