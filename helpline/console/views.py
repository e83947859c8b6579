"""Console APIs: urgent alerts to take, and a supervisor's audited reveal of a number."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select

from helpline import appkeys
from helpline.audit import service as audit
from helpline.console.auth import require_user
from helpline.conversations.models import Contact, Conversation
from helpline.routing.models import OPEN, Alert
from helpline.users.models import User

ANSWERS = ("volunteer", "supervisor", "admin")
MAY_REVEAL = ("supervisor", "admin")


class RevealBody(BaseModel):
    """Why a number is revealed (kept in the audit log)."""

    reason: str = Field(min_length=10, max_length=500)


async def open_alerts(request: web.Request) -> web.Response:
    """List the urgent alerts nobody has taken yet (the console's alarm)."""
    await require_user(request, *ANSWERS)
    async with request.app[appkeys.DB].reader() as session:
        rows = (await session.execute(
            select(Alert.id, Alert.conversation_id, Alert.opened_at, Alert.source)
            .where(Alert.status == OPEN).order_by(Alert.opened_at))).all()
    return web.json_response({"alerts": [
        {"id": r.id, "conversation_id": r.conversation_id, "opened_at": r.opened_at.isoformat(),
         "source": r.source} for r in rows]})


async def acknowledge(request: web.Request) -> web.Response:
    """Take an urgent alert's case from the console; 409 if someone already has."""
    user = await require_user(request, *ANSWERS)
    alert_id = _int(request.match_info["alert_id"])
    app = request.app
    async with app[appkeys.DB].transaction() as session:
        me = await session.get_one(User, user.id)
        alert = await app[appkeys.ALERTS].acknowledge(
            session, alert_id=alert_id, user=me, now=app[appkeys.CLOCK].now(), via="console")
    if alert is None:
        raise web.HTTPConflict(text="this alert is already taken or closed\n")
    return web.json_response({"id": alert.id, "conversation_id": alert.conversation_id,
                              "status": alert.status})


async def reveal_number(request: web.Request) -> web.Response:
    """Show a supervisor a contact's number for a safeguarding referral, with a reason."""
    user = await require_user(request, *MAY_REVEAL)
    conversation_id = _int(request.match_info["conversation_id"])
    try:
        body = RevealBody.model_validate(await request.json())
    except (ValueError, ValidationError):
        raise web.HTTPBadRequest(text="give a reason of at least 10 characters\n") from None
    app = request.app
    async with app[appkeys.DB].transaction() as session:
        contact = await session.scalar(
            select(Contact).join(Conversation, Conversation.contact_id == Contact.id)
            .where(Conversation.id == conversation_id))
        if contact is None or contact.address_enc is None:
            raise web.HTTPNotFound(text="no number is held for this conversation\n")
        audit.record(session, at=app[appkeys.CLOCK].now(), actor=f"user:{user.id}",
                     action="contact.number_revealed", subject_type="conversation",
                     subject_id=conversation_id, reason=body.reason)
        address = app[appkeys.KEYS].cipher.decrypt(contact.address_enc)
    return web.json_response({"conversation_id": conversation_id, "address": address},
                             headers={"Cache-Control": "no-store"})


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise web.HTTPNotFound(text="no such item\n") from None


def setup_console_api(app: web.Application) -> None:
    """Add the console's alert and reveal routes."""
    app.router.add_get("/api/alerts", open_alerts)
    app.router.add_post("/api/alerts/{alert_id}/ack", acknowledge)
    app.router.add_post("/api/conversations/{conversation_id}/reveal", reveal_number)
