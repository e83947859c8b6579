"""Create users, check passwords, find a volunteer by the phone a text came from."""

from __future__ import annotations

import re
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.privacy.addresses import parse_address
from helpline.privacy.crypto import Cipher
from helpline.privacy.pseudonym import Pseudonymizer
from helpline.users.models import ROLES, User

LOGIN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_hasher = PasswordHasher()
USERS = User.__table__
USER_BY_PHONE = select(USERS.c.id).where(
    USERS.c.phone_pseudonym.in_(bindparam("digests", expanding=True)),
    USERS.c.disabled_at.is_(None))


class UserError(ValueError):
    """A user cannot be created as asked; the message says why."""


async def create_user(
    session: AsyncSession,
    *,
    login: str,
    role: str,
    now: datetime,
    cipher: Cipher,
    pseudonyms: Pseudonymizer,
    display_name: str | None = None,
    phone: str | None = None,
    password: str | None = None,
    capacity: int = 3,
) -> User:
    """Add a user; the phone is stored encrypted with a pseudonym for recognising texts."""
    if not LOGIN.match(login):
        raise UserError("login must be 2-64 lower-case letters, digits, '.', '_' or '-'")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    if await session.scalar(select(User.id).where(User.login == login)) is not None:
        raise UserError(f"a user with login {login!r} exists already")
    user = User(login=login, display_name=display_name or login, role=role,
                capacity=capacity, availability="away", created_at=now)
    if password is not None:
        if len(password) < 12:
            raise UserError("password must be at least 12 characters")
        user.password_hash = _hasher.hash(password)
    if phone is not None:
        try:
            e164 = parse_address(phone).e164
        except ValueError:
            raise UserError("phone is not a phone number") from None
        pseudonym = pseudonyms.pseudonym(e164)
        if await find_by_phone(session, pseudonyms=pseudonyms, e164=e164) is not None:
            raise UserError("another user has that phone")
        user.phone_enc = cipher.encrypt(e164)
        user.phone_pseudonym, user.phone_pseudonym_version = pseudonym.digest, pseudonym.version
    session.add(user)
    await session.flush()
    return user


async def find_by_phone(session: AsyncSession, *, pseudonyms: Pseudonymizer,
                        e164: str) -> User | None:
    """Return the active user whose page phone is ``e164``, under any pseudonym key."""
    digests = [p.digest for p in pseudonyms.all_pseudonyms(e164)]
    # Asked for every inbound text: a cheap id lookup first, the user only for a volunteer.
    user_id = await session.scalar(USER_BY_PHONE, {"digests": digests})
    return None if user_id is None else await session.get(User, user_id)


def verify_password(user: User, password: str) -> bool:
    """Return whether ``password`` is the user's (constant-time, argon2)."""
    if not user.password_hash:
        return False
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return False
