"""Sign in and out of the console; find the signed-in user; refuse the wrong roles."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import timedelta
from http import HTTPStatus

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select, update

from helpline import appkeys
from helpline.audit import service as audit
from helpline.console.models import UserSession
from helpline.users.models import User
from helpline.users.service import verify_password

COOKIE = "helpline_session"
SESSION_HOURS = 12  # one shift


class LoginBody(BaseModel):
    """What the sign-in form posts."""

    login: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


async def login(request: web.Request) -> web.Response:
    """Check a login and password; on success set a session cookie (HttpOnly, SameSite)."""
    try:
        body = LoginBody.model_validate(await request.json())
    except (ValueError, ValidationError):
        raise web.HTTPBadRequest(text="expected JSON with login and password\n") from None
    app, now = request.app, request.app[appkeys.CLOCK].now()
    async with app[appkeys.DB].reader() as session:
        user = await session.scalar(select(User).where(User.login == body.login))
    # argon2 takes tens of milliseconds on purpose: keep it off the event loop.
    ok = user is not None and user.disabled_at is None and await asyncio.to_thread(
        verify_password, user, body.password)
    async with app[appkeys.DB].transaction() as session:
        if not ok:
            audit.record(session, at=now, actor="anonymous", action="user.login_failed",
                         login=body.login[:64])
        else:
            token = secrets.token_urlsafe(32)
            session.add(UserSession(token_hash=_hash(token), user_id=user.id, created_at=now,
                                    expires_at=now + timedelta(hours=SESSION_HOURS)))
            audit.record(session, at=now, actor=f"user:{user.id}", action="user.login",
                         subject_type="user", subject_id=user.id)
    if not ok:
        raise web.HTTPUnauthorized(text="wrong login or password\n")
    response = web.json_response({"login": user.login, "role": user.role})
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict",
                        secure=app[appkeys.SETTINGS].public_url.startswith("https"),
                        max_age=SESSION_HOURS * 3600, path="/")
    return response


async def logout(request: web.Request) -> web.Response:
    """End the current session."""
    token = request.cookies.get(COOKIE)
    if token:
        now = request.app[appkeys.CLOCK].now()
        async with request.app[appkeys.DB].transaction() as session:
            await session.execute(update(UserSession)
                                  .where(UserSession.token_hash == _hash(token))
                                  .values(revoked_at=now))
    response = web.Response(status=HTTPStatus.NO_CONTENT)
    response.del_cookie(COOKIE, path="/")
    return response


async def require_user(request: web.Request, *roles: str) -> User:
    """Return the signed-in user; 401 if nobody is, 403 if their role is not in ``roles``."""
    token = request.cookies.get(COOKIE)
    now = request.app[appkeys.CLOCK].now()
    user = None
    if token:
        async with request.app[appkeys.DB].reader() as session:
            user = await session.scalar(
                select(User).join(UserSession, UserSession.user_id == User.id)
                .where(UserSession.token_hash == _hash(token), UserSession.revoked_at.is_(None),
                       UserSession.expires_at > now, User.disabled_at.is_(None)))
    if user is None:
        raise web.HTTPUnauthorized(text="sign in first\n")
    if roles and user.role not in roles:
        raise web.HTTPForbidden(text="your role may not see this\n")
    return user


def setup_auth(app: web.Application) -> None:
    """Add the sign-in routes."""
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/logout", logout)
