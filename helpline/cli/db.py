"""``helpline db upgrade|current``: apply and inspect the Alembic migrations."""

from __future__ import annotations

import argparse
import asyncio

from helpline.db import Database
from helpline.logs import setup_logging
from helpline.migrate import current_revision, head_revision, upgrade_sync
from helpline.settings import load_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``db`` commands."""
    parser = subparsers.add_parser("db", help="database migrations")
    commands = parser.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    up = commands.add_parser("upgrade", help="apply every migration not yet applied")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=upgrade)
    cur = commands.add_parser("current", help="print the applied and the newest revision")
    cur.set_defaults(func=current)


def upgrade(args: argparse.Namespace) -> int:
    """Migrate the configured database."""
    settings = load_settings(args.config)
    setup_logging(settings.log_level)
    upgrade_sync(settings.effective_database_url, args.revision)
    print(f"database at {head_revision() if args.revision == 'head' else args.revision}")
    return 0


def current(args: argparse.Namespace) -> int:
    """Print the database's revision and the code's newest one; exit 1 if they differ."""
    settings = load_settings(args.config)

    async def read() -> str | None:
        db = Database(settings.effective_database_url)
        try:
            return await current_revision(db.engine)
        finally:
            await db.dispose()

    applied, head = asyncio.run(read()), head_revision()
    print(f"applied: {applied or 'none'}\nnewest:  {head}")
    return 0 if applied == head else 1
