"""``helpline purge`` and ``helpline erase``: apply retention now; erase one contact."""

from __future__ import annotations

import argparse
import asyncio

from sqlalchemy import select

from helpline.cli.common import CommandError, database, settings_and_keys
from helpline.clock import SystemClock
from helpline.conversations.contacts import find_contact
from helpline.conversations.models import Conversation
from helpline.privacy.addresses import AddressError, parse_address
from helpline.privacy.erasure import ErasureError, erase_contact
from helpline.privacy.retention import close_inactive, purge
from helpline.settings import load_settings
from helpline.users.models import User


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``purge`` and ``erase`` commands."""
    p = subparsers.add_parser("purge", help="apply the retention policy now; print counts")
    p.set_defaults(func=run_purge)
    e = subparsers.add_parser("erase", help="erase one contact's content (supervisors, admins)")
    which = e.add_mutually_exclusive_group(required=True)
    which.add_argument("--conversation", type=int, metavar="ID",
                       help="the contact of this conversation")
    which.add_argument("--number", metavar="E164", help="the contact with this number")
    e.add_argument("--by", required=True, metavar="LOGIN", help="supervisor or admin erasing")
    e.add_argument("--reason", required=True, help="why (kept in the audit log)")
    e.set_defaults(func=run_erase)


def run_purge(args: argparse.Namespace) -> int:
    """Purge now and print what was removed, as counts."""
    settings = load_settings(args.config)

    async def go() -> list[str]:
        now = SystemClock().now()
        async with database(settings) as db:
            closed = await close_inactive(db, policy=settings.retention, now=now)
            report = await purge(db, policy=settings.retention, now=now, actor="cli")
        return [f"inactive conversations closed: {closed}", *report.lines()]

    print("\n".join(asyncio.run(go())))
    return 0


def run_erase(args: argparse.Namespace) -> int:
    """Erase a contact's content; exit 1 with a reason if not allowed or not found."""
    settings, keys = settings_and_keys(args)

    async def go() -> str:
        async with database(settings) as db, db.transaction() as session:
            user = await session.scalar(select(User).where(User.login == args.by))
            if user is None:
                raise CommandError(f"no user {args.by!r}")
            if args.conversation is not None:
                contact_id = await session.scalar(
                    select(Conversation.contact_id).where(Conversation.id == args.conversation))
            else:
                try:
                    e164 = parse_address(args.number).e164
                except AddressError:
                    raise CommandError("--number is not a phone number") from None
                contact = await find_contact(session, pseudonyms=keys.pseudonyms, e164=e164)
                contact_id = contact.id if contact else None
            if contact_id is None:
                raise CommandError("no such contact (or already erased)")
            try:
                report = await erase_contact(session, contact_id=contact_id, by=user,
                                             reason=args.reason, now=SystemClock().now(),
                                             keys=keys)
            except ErasureError as exc:
                raise CommandError(str(exc)) from None
        return (f"erased contact {contact_id}: {report.conversations} conversations, "
                f"{report.message_bodies} message bodies, {report.outbox_contents} outgoing texts")

    print(asyncio.run(go()))
    return 0
