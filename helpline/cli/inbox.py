"""``helpline inbox show`` and ``inbox retry``: texts the worker could not file, for a person.

A text that still fails after the worker's attempts is kept in the inbox, encrypted and
marked failed, so that nothing a young person sent is lost. This is where a person finds
those texts (never their content: ids, times, urgency, the error's type) and, once the
cause is fixed, hands them back to the worker.
"""

from __future__ import annotations

import argparse
import asyncio

from sqlalchemy import select, update

from helpline.audit import service as audit
from helpline.cli.common import CommandError, database
from helpline.clock import SystemClock
from helpline.inbox.models import FAILED, KEPT_FOR_A_PERSON, PENDING, InboxMessage
from helpline.inbox.service import waiting_counts
from helpline.settings import load_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``inbox`` command group."""
    parser = subparsers.add_parser("inbox", help="texts waiting to be filed, or failed")
    commands = parser.add_subparsers(dest="inbox_command", metavar="SUBCOMMAND", required=True)
    show = commands.add_parser("show", help="count waiting texts; list failed ones (no content)")
    show.set_defaults(func=run_show)
    retry = commands.add_parser("retry", help="hand failed texts back to the worker (audited)")
    retry.add_argument("ids", nargs="*", type=int, metavar="ID",
                       help="inbox ids, as `inbox show` lists them")
    retry.add_argument("--all", action="store_true", help="every failed text")
    retry.set_defaults(func=run_retry)


def run_show(args: argparse.Namespace) -> int:
    """Print the number of pending and failed texts, then one line per failed text."""
    settings = load_settings(args.config)

    async def go() -> list[str]:
        async with database(settings) as db, db.reader() as session:
            counts = await waiting_counts(session)
            failed = (await session.execute(
                select(InboxMessage.id, InboxMessage.received_at, InboxMessage.urgent,
                       InboxMessage.attempts, InboxMessage.last_error,
                       InboxMessage.body_enc.is_not(None).label("kept"))
                .where(InboxMessage.status == FAILED).order_by(InboxMessage.id))).all()
        lines = [f"pending: {counts[PENDING]}", f"failed, content kept: {counts[FAILED]}"]
        lines += [f"{row.id}  received {row.received_at:%Y-%m-%d %H:%M:%S}  "
                  f"{'URGENT' if row.urgent else 'ordinary'}  attempts={row.attempts}  "
                  f"error={row.last_error or '-'}"
                  + ("" if row.kept else "  (content deleted by retention)")
                  for row in failed]
        return lines

    print("\n".join(asyncio.run(go())))
    return 0


def run_retry(args: argparse.Namespace) -> int:
    """Put failed texts back in the worker's queue, audited; exit 1 if an id is not failed."""
    if bool(args.ids) == args.all:
        raise CommandError("name the inbox ids to retry, or --all")
    settings = load_settings(args.config)

    async def go() -> int:
        now = SystemClock().now()
        async with database(settings) as db, db.transaction() as session:
            ids = list((await session.execute(
                select(InboxMessage.id).where(KEPT_FOR_A_PERSON, *(
                    [] if args.all else [InboxMessage.id.in_(args.ids)])))).scalars())
            missing = sorted(set(args.ids) - set(ids))
            if missing:
                raise CommandError("not failed with its content kept: "
                                   + ", ".join(map(str, missing)))
            if ids:
                await session.execute(
                    update(InboxMessage).where(InboxMessage.id.in_(ids))
                    .values(status=PENDING, attempts=0, claimed_until=None, last_error=None))
                audit.record(session, at=now, actor="cli", action="inbox.retried",
                             count=len(ids), ids=ids)
        return len(ids)

    count = asyncio.run(go())
    print(f"handed back to the worker: {count}")
    return 0
