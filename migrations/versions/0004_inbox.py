"""Inbox: inbound messages committed before the webhook answers, processed after.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from helpline.db import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the inbox table."""
    op.create_table(
        "inbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("provider_sid", sa.String(64), nullable=False),
        sa.Column("address_enc", sa.Text()),
        sa.Column("body_enc", sa.Text()),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_until", UTCDateTime()),
        sa.Column("last_error", sa.String(200)),
        sa.Column("processed_at", UTCDateTime()),
        sa.UniqueConstraint("provider_sid", name="uq_inbox_provider_sid"),
    )
    op.create_index("ix_inbox_due", "inbox", ["status", "id"])


def downgrade() -> None:
    """Drop the inbox table."""
    op.drop_table("inbox")
