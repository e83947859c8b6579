"""Inbox: a filed text's row no longer keeps its sender's pseudonym.

``sender_key`` (the HMAC pseudonym of the sender's number) only orders the filing. Kept
on filed rows, it linked the number to their MessageSids, and so to the conversation,
after retention had cut the contact's pseudonym link or an erasure had. Filing now
clears it; this clears it on the rows filed before. Retention deletes filed rows a day
after filing from now on.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Clear the pseudonym of every filed inbox row."""
    # Plain DML finds the table in the attached inbox file on SQLite (see 0008).
    op.execute("UPDATE inbox SET sender_key = NULL WHERE status = 'done'")


def downgrade() -> None:
    """Nothing to restore: the pseudonyms are not kept anywhere else."""
