"""Inbox: index by sender only the leased rows, the one lookup that needs an index.

``ix_inbox_sender`` (``sender_key, status``) put every stored text at a random place in
a b-tree, and each webhook's commit wrote those pages: under a flood's backlog, a page
for nearly every text. Server CPU a webhook (``tests/bench/bench_cpu.py``, median of 5
rounds, bare handler 109 µs on a noisy host): 218 -> 186 µs in the default process,
192 -> 182 µs on the webhook path alone. Two lookups used it:

- whether an earlier text of a sender is being filed now: asked for each text a claim
  looks at, and it only asks about leased rows. ``ix_inbox_sender_leased`` holds just
  those (a stored text has no lease, so no webhook writes it).
- an urgent sender's other texts, which come with the claim: asked only when a claim
  holds an urgent text. That reads the pending rows in ``ix_inbox_urgent_first``, which
  now holds ``sender_key`` and ``claimed_until`` too, so it reads no table rows but
  those it returns. Measured on SQLite alone with 66,000 texts waiting: 17 ms (0.2 ms by
  the old index); PostgreSQL, 50,000 waiting: 3 ms. At an ordinary day's few: nothing.
  A new row still goes at the end of its part of that index, as before.

On SQLite the inbox lives in the attached ``inbox`` file, so the statements name it (0008).

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEASED = "claimed_until IS NOT NULL"


def _schema() -> str | None:
    return "inbox" if op.get_bind().dialect.name == "sqlite" else None


def upgrade() -> None:
    """Swap the sender index for a partial one; make the claim's index cover its lookups."""
    schema = _schema()
    op.drop_index("ix_inbox_sender", table_name="inbox", schema=schema)
    op.create_index("ix_inbox_sender_leased", "inbox", ["sender_key", "id"], schema=schema,
                    sqlite_where=sa.text(LEASED), postgresql_where=sa.text(LEASED))
    op.drop_index("ix_inbox_urgent_first", table_name="inbox", schema=schema)
    op.create_index("ix_inbox_urgent_first", "inbox",
                    ["status", sa.text("urgent DESC"), "id", "sender_key", "claimed_until"],
                    schema=schema)


def downgrade() -> None:
    """Put back both indexes as 0007 and 0010 made them."""
    schema = _schema()
    op.drop_index("ix_inbox_urgent_first", table_name="inbox", schema=schema)
    op.create_index("ix_inbox_urgent_first", "inbox", ["status", sa.text("urgent DESC"), "id"],
                    schema=schema)
    op.drop_index("ix_inbox_sender_leased", table_name="inbox", schema=schema)
    op.create_index("ix_inbox_sender", "inbox", ["sender_key", "status"], schema=schema)
