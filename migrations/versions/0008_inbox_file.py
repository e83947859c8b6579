"""Inbox: on SQLite, a file of its own, so webhooks never wait for the worker's write lock.

SQLite has one writer per file. The worker holds the main file's lock while it files a
text; webhooks commit to the inbox, now in ``<name>-inbox.db`` (attached to every
connection as ``inbox``; SQL that names the table without a schema finds it there). The
table, its indexes and its rows move as they are. PostgreSQL has row locks: nothing to do.

Later migrations that change the inbox on SQLite must name the schema (``schema="inbox"``
there, None on PostgreSQL): an unqualified CREATE INDEX or batch copy would look for the
table in the main file.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Move the inbox table from the main file to the attached inbox file."""
    _move("main", "inbox")


def downgrade() -> None:
    """Move it back into the main file."""
    _move("inbox", "main")


def _move(source: str, target: str) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # The table's own CREATE statements, so it arrives exactly as the migrations made it.
    statements = op.get_bind().exec_driver_sql(
        f"SELECT type, name, sql FROM {source}.sqlite_master "  # noqa: S608 - fixed names
        "WHERE tbl_name = 'inbox' AND sql IS NOT NULL ORDER BY type = 'index'").all()
    for kind, name, sql in statements:
        head = f"CREATE {'UNIQUE ' if sql.startswith('CREATE UNIQUE') else ''}{kind.upper()} "
        if not sql.startswith(head):
            raise RuntimeError(f"unexpected schema for {name}: cannot move the inbox")
        # CREATE TABLE target.inbox (...); CREATE INDEX target.ix_... ON inbox (...)
        op.execute(head + f"{target}." + sql[len(head):])
    op.execute(f"INSERT INTO {target}.inbox SELECT * FROM {source}.inbox")  # noqa: S608
    op.execute(f"DROP TABLE {source}.inbox")
