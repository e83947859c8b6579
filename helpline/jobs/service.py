"""Schedule and cancel durable timers inside the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.db import execute_unflushed, insert_for
from helpline.jobs.models import Job

# Core statements on the table (built once, compiled once): timers are set and cancelled on
# every message, and going through the ORM for them costs more than the SQL.
JOBS = Job.__table__
CANCEL = (update(JOBS)
          .where(JOBS.c.key.in_(bindparam("keys", expanding=True)), JOBS.c.done_at.is_(None))
          .values(done_at=bindparam("now"), outcome="cancelled", key=None))


@dataclass(frozen=True)
class NewJob:
    """A job to add: ``key`` (optional) keeps one pending job per key."""

    kind: str
    due_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    key: str | None = None


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
    await schedule_many(session, now=now,
                        jobs=[NewJob(kind=kind, due_at=due_at, payload=payload or {}, key=key)])


async def schedule_many(session: AsyncSession, *, now: datetime, jobs: list[NewJob]) -> None:
    """Add several jobs in one statement; a job whose ``key`` is already pending is kept."""
    if not jobs:
        return
    await execute_unflushed(
        session, insert_for(session, JOBS).on_conflict_do_nothing(),
        [{"kind": job.kind, "key": job.key, "payload": job.payload, "due_at": job.due_at,
          "attempts": 0, "created_at": now} for job in jobs])


async def cancel(session: AsyncSession, *, keys: list[str], now: datetime) -> int:
    """Cancel pending jobs by key; return how many were cancelled."""
    if not keys:
        return 0
    result = await execute_unflushed(session, CANCEL, {"keys": keys, "now": now})
    return result.rowcount or 0

