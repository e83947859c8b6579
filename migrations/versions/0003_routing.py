"""Routing: users, urgent alerts and their pages, assignment and first-reply times.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from helpline.db import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Add users, alerts, alert pages, volunteer commands and routing fields."""
    op.create_table(
        "users",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("login", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text()),
        sa.Column("phone_enc", sa.Text()),
        sa.Column("phone_pseudonym", sa.String(64)),
        sa.Column("phone_pseudonym_version", sa.Integer()),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("availability", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("disabled_at", UTCDateTime()),
        sa.UniqueConstraint("login", name="uq_users_login"),
        sa.UniqueConstraint("phone_pseudonym", name="uq_users_phone_pseudonym"),
    )
    op.create_table(
        "alerts",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("conversation_id", BigId,
                  sa.ForeignKey("conversations.id", ondelete="CASCADE",
                                name="fk_alerts_conversation_id_conversations"),
                  nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("chain", sa.JSON(), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("acknowledged_by", BigId,
                  sa.ForeignKey("users.id", ondelete="SET NULL",
                                name="fk_alerts_acknowledged_by_users")),
        sa.Column("acknowledged_at", UTCDateTime()),
        sa.Column("resolved_at", UTCDateTime()),
    )
    op.create_index("ix_alerts_conversation_status", "alerts", ["conversation_id", "status"])
    op.create_table(
        "alert_pages",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("alert_id", BigId,
                  sa.ForeignKey("alerts.id", ondelete="CASCADE",
                                name="fk_alert_pages_alert_id_alerts"), nullable=False),
        sa.Column("user_id", BigId,
                  sa.ForeignKey("users.id", ondelete="CASCADE",
                                name="fk_alert_pages_user_id_users"), nullable=False),
        sa.Column("tier", sa.String(32), nullable=False),
        sa.Column("paged_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_alert_pages_user", "alert_pages", ["user_id", "paged_at"])
    op.create_table(
        "volunteer_commands",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("provider_sid", sa.String(64), nullable=False),
        sa.Column("user_id", BigId,
                  sa.ForeignKey("users.id", ondelete="CASCADE",
                                name="fk_volunteer_commands_user_id_users"), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("provider_sid", name="uq_volunteer_commands_provider_sid"),
    )
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("assigned_to", BigId))
        batch.add_column(sa.Column("assigned_at", UTCDateTime()))
        batch.add_column(sa.Column("first_human_reply_at", UTCDateTime()))
        batch.add_column(sa.Column("target_breached_at", UTCDateTime()))
        batch.create_foreign_key("fk_conversations_assigned_to_users", "users",
                                 ["assigned_to"], ["id"], ondelete="SET NULL")
        batch.create_index("ix_conversations_assigned_to", ["assigned_to", "status"])


def downgrade() -> None:
    """Drop the routing tables and fields."""
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index("ix_conversations_assigned_to")
        batch.drop_constraint("fk_conversations_assigned_to_users", type_="foreignkey")
        batch.drop_column("target_breached_at")
        batch.drop_column("first_human_reply_at")
        batch.drop_column("assigned_at")
        batch.drop_column("assigned_to")
    op.drop_table("volunteer_commands")
    op.drop_table("alert_pages")
    op.drop_table("alerts")
    op.drop_table("users")
