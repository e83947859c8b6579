"""Schedule and cancel durable timers inside the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.db import insert_for
from helpline.jobs.models import Job


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
        insert_for(session, Job)
        .values(kind=kind, key=key, payload=payload or {}, due_at=due_at, attempts=0,
                created_at=now)
        .on_conflict_do_nothing()
    )


async def cancel(session: AsyncSession, *, keys: list[str], now: datetime) -> int:
    """Cancel pending jobs by key; return how many were cancelled."""
    if not keys:
        return 0
    result = await session.execute(
        update(Job)
        .where(Job.key.in_(keys), Job.done_at.is_(None))
        .values(done_at=now, outcome="cancelled", key=None)
    )
    return result.rowcount or 0

