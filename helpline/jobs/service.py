"""Schedule and cancel durable timers inside the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.db import insert_for
from helpline.jobs.models import Job

# Core statements on the table (built once, compiled once): timers are set and cancelled on
# every message, and going through the ORM for them costs more than the SQL.
JOBS = Job.__table__
CANCEL = (update(JOBS)
          .where(JOBS.c.key.in_(bindparam("keys", expanding=True)), JOBS.c.done_at.is_(None))
          .values(done_at=bindparam("now"), outcome="cancelled", key=None))


async def schedule(
    session: AsyncSession,
    *,
    kind: str,
    due_at: datetime,
    now: datetime,
    payload: dict[str, Any] | None = None,
    key: str | None = None,
) -> None:
    """Add a job due at ``due_at``; a job with the same ``key`` already pending is kept."""
    await session.execute(
        insert_for(session, JOBS).on_conflict_do_nothing(),
        {"kind": kind, "key": key, "payload": payload or {}, "due_at": due_at, "attempts": 0,
         "created_at": now})


async def cancel(session: AsyncSession, *, keys: list[str], now: datetime) -> int:
    """Cancel pending jobs by key; return how many were cancelled."""
    if not keys:
        return 0
    result = await session.execute(CANCEL, {"keys": keys, "now": now})
    return result.rowcount or 0

