"""``GET /api/audit``: the audit log, for supervisors and admins only; reading it is audited."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from helpline import appkeys
from helpline.audit import service as audit
from helpline.audit.models import AuditEvent
from helpline.console.auth import require_user

MAY_READ = ("supervisor", "admin")


async def list_events(request: web.Request) -> web.Response:
    """Return audit events newest first; ``?before=ID&limit=N`` pages back."""
    user = await require_user(request, *MAY_READ)
    try:
        limit = min(max(int(request.query.get("limit", "100")), 1), 500)
        before = int(request.query["before"]) if "before" in request.query else None
    except ValueError:
        raise web.HTTPBadRequest(text="limit and before must be whole numbers\n") from None
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditEvent.id < before)
    if "action" in request.query:
        query = query.where(AuditEvent.action == request.query["action"])
    async with request.app[appkeys.DB].transaction() as session:
        events = (await session.execute(query)).scalars().all()
        audit.record(session, at=request.app[appkeys.CLOCK].now(), actor=f"user:{user.id}",
                     action="audit.viewed", count=len(events))
    return web.json_response({"events": [
        {"id": e.id, "at": e.at.isoformat(), "actor": e.actor, "action": e.action,
         "subject_type": e.subject_type, "subject_id": e.subject_id, "details": e.details}
        for e in events]})


def setup_audit_views(app: web.Application) -> None:
    """Add the audit log route."""
    app.router.add_get("/api/audit", list_events)
