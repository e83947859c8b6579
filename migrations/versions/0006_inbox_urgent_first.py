"""Inbox: mark messages the risk lexicon rates urgent, and who sent them, to file urgent first.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add inbox.urgent and inbox.sender_key."""
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("urgent", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("sender_key", sa.String(64)))
        batch.create_index("ix_inbox_urgent_first", ["status", "urgent", "id"])


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("inbox") as batch:
        batch.drop_index("ix_inbox_urgent_first")
        batch.drop_column("sender_key")
        batch.drop_column("urgent")
