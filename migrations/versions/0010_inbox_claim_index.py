"""Inbox: an index the claim can walk in order, and none that nothing uses.

The claim asks for ``status = 'pending' ORDER BY urgent DESC, id``. On
``(status, urgent, id)`` SQLite sorted every pending row for each claim of 50, so each
claim cost more as a backlog grew (1.4 ms of sorting at 5,000 pending, on the event
loop); on ``(status, urgent DESC, id)`` it reads the first 50 (0.14 ms). ``ix_inbox_due``
``(status, id)`` served no query: every one that filters by status uses the other index's
prefix. Each webhook's INSERT wrote it all the same.

On SQLite the inbox lives in the attached ``inbox`` file, so the statements name it (0008).

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _schema() -> str | None:
    return "inbox" if op.get_bind().dialect.name == "sqlite" else None


def upgrade() -> None:
    """Drop ix_inbox_due; rebuild ix_inbox_urgent_first with urgent descending."""
    schema = _schema()
    op.drop_index("ix_inbox_due", table_name="inbox", schema=schema)
    op.drop_index("ix_inbox_urgent_first", table_name="inbox", schema=schema)
    op.create_index("ix_inbox_urgent_first", "inbox",
                    ["status", sa.text("urgent DESC"), "id"], schema=schema)


def downgrade() -> None:
    """Put back both indexes as 0004 and 0006 made them."""
    schema = _schema()
    op.drop_index("ix_inbox_urgent_first", table_name="inbox", schema=schema)
    op.create_index("ix_inbox_urgent_first", "inbox", ["status", "urgent", "id"], schema=schema)
    op.create_index("ix_inbox_due", "inbox", ["status", "id"], schema=schema)
