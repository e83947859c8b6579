"""``helpline users add|list``: manage volunteers and staff from the command line."""

from __future__ import annotations

import argparse
import asyncio
import sys

from sqlalchemy import select

from helpline.audit import service as audit
from helpline.cli.common import CommandError, database, settings_and_keys
from helpline.clock import SystemClock
from helpline.settings import load_settings
from helpline.users.models import ROLES, User
from helpline.users.service import UserError, create_user


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``users`` commands."""
    parser = subparsers.add_parser("users", help="volunteers and staff")
    commands = parser.add_subparsers(dest="users_command", metavar="COMMAND", required=True)
    add = commands.add_parser("add", help="create a user")
    add.add_argument("login", metavar="NAME", help="login name, e.g. vol-amira")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--phone", metavar="E164", help="phone for urgent pages, e.g. +447700900123")
    add.add_argument("--display-name", help="name shown in the console (default: NAME)")
    add.add_argument("--capacity", type=int, default=3,
                     help="conversations held at once (default 3)")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the console password from the first line of stdin")
    add.set_defaults(func=add_user)
    show = commands.add_parser("list", help="list users (never their phones)")
    show.set_defaults(func=list_users)


def add_user(args: argparse.Namespace) -> int:
    """Create a user; exit 1 with a reason if that is not possible."""
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    settings, keys = settings_and_keys(args)

    async def run() -> User:
        now = SystemClock().now()
        async with database(settings) as db, db.transaction() as session:
            try:
                user = await create_user(
                    session, login=args.login, role=args.role, now=now, cipher=keys.cipher,
                    pseudonyms=keys.pseudonyms, display_name=args.display_name,
                    phone=args.phone, password=password, capacity=args.capacity)
            except UserError as exc:
                raise CommandError(str(exc)) from None
            audit.record(session, at=now, actor="cli", action="user.created",
                         subject_type="user", subject_id=user.id, role=user.role)
            return user

    user = asyncio.run(run())
    print(f"created {user.role} {user.login} (id {user.id})"
          + (", with a page phone" if user.phone_enc else ""))
    return 0


def list_users(args: argparse.Namespace) -> int:
    """Print one line per user: login, role, availability, capacity."""
    settings = load_settings(args.config)

    async def run() -> list[User]:
        async with database(settings) as db, db.reader() as session:
            return list((await session.execute(select(User).order_by(User.login))).scalars())

    for user in asyncio.run(run()):
        phone = "phone" if user.phone_enc else "no phone"
        print(f"{user.login}\t{user.role}\t{user.availability}\tcapacity {user.capacity}\t{phone}")
    return 0
