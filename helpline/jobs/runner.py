"""Run due jobs: claimed atomically with a lease, each in its own transaction, once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.background import poll_forever, running
from helpline.clock import Clock
from helpline.db import Database
from helpline.jobs.models import Job

log = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, Job, datetime], Awaitable[None]]
# A job that runs transactions of its own (long work in short steps): database, job id, now.
OwnTransactions = Callable[[Database, int, datetime], Awaitable[None]]


class JobRunner:
    """The background worker that fires durable timers."""

    def __init__(self, *, db: Database, clock: Clock, lease_seconds: float = 120.0,
                 poll_seconds: float = 1.0, batch_size: int = 20, max_attempts: int = 8,
                 retry_seconds: float = 30.0) -> None:
        self._db = db
        self._clock = clock
        self._handlers: dict[str, Handler] = {}
        self._own_transactions: dict[str, tuple[OwnTransactions, timedelta]] = {}
        self._long_work: dict[int, asyncio.Task[None]] = {}  # jobs running on their own, by id
        self._leases: dict[int, datetime] = {}  # the lease each of them holds, as written
        self._lease = timedelta(seconds=lease_seconds)
        self._poll = poll_seconds
        self._batch = batch_size
        self._max_attempts = max_attempts
        self._retry = retry_seconds
        self.wakeup = asyncio.Event()

    def register(self, kind: str, handler: Handler) -> None:
        """Run ``handler`` for jobs of ``kind``, in the transaction that marks the job done."""
        self._handlers[kind] = handler

    def register_own_transactions(self, kind: str, handler: OwnTransactions, *,
                                  lease_seconds: float = 3600.0) -> None:
        """Run ``handler`` for jobs of ``kind`` outside any transaction; it opens its own.

        For long work done in short transactions, so that nothing waits for all of it.
        Such a job runs in a task of its own, so that timers falling due meanwhile (an
        escalation step) are claimed and fired as usual, leased for ``lease_seconds`` and
        renewed every third of that while it runs, so that no other process starts it
        meanwhile. The job is marked done afterwards; if the process dies first, it runs
        again once its lease runs out, so the work must be safe to repeat.
        """
        self._own_transactions[kind] = (handler, timedelta(seconds=lease_seconds))

    async def run(self) -> None:
        """Fire due jobs until cancelled (the long work still running: ``stop_long_work``)."""
        await poll_forever(self.run_once, wake=self.wakeup, batch_size=self._batch,
                           poll_seconds=self._poll, what="job")

    async def stop_long_work(self) -> None:
        """Cancel the jobs running in tasks of their own; they give their leases back.

        The app calls this when it stops, after ``run`` (``helpline.app._jobs``).
        """
        for task in self._long_work.values():
            task.cancel()
        await asyncio.gather(*self._long_work.values(), return_exceptions=True)

    async def long_work_done(self) -> None:
        """Wait until every job running in a task of its own has finished."""
        while self._long_work:
            await asyncio.gather(*self._long_work.values(), return_exceptions=True)

    async def run_once(self) -> int:
        """Claim and run every due job; return how many were claimed."""
        now = self._clock.now()
        due = (
            select(Job.id)
            .where(Job.done_at.is_(None), Job.due_at <= now,
                   or_(Job.claimed_until.is_(None), Job.claimed_until < now))
            .order_by(Job.due_at, Job.id)
            .limit(self._batch)
            .with_for_update(skip_locked=True)
        )
        async with self._db.transaction() as session:
            claimed = (await session.execute(
                update(Job)
                .where(Job.id.in_(due.scalar_subquery()))
                .values(claimed_until=now + self._lease, attempts=Job.attempts + 1)
                .returning(Job.id, Job.kind)
                .execution_options(synchronize_session=False)
            )).all()
        for job in sorted(claimed):
            if job.id in self._long_work:  # its lease ran out while it runs here
                try:  # not another attempt
                    await self._write_lease(job.id, job.kind, attempts=Job.attempts - 1)
                except Exception:
                    log.exception("leasing job %s %s again failed", job.id, job.kind)
            elif job.kind in self._own_transactions:
                self._start_own(job.id, job.kind)
            else:
                await self._run_one(job.id)
        return len(claimed)

    async def _run_one(self, job_id: int) -> None:
        now = self._clock.now()
        try:
            async with self._db.transaction() as session:
                job = (await session.execute(
                    select(Job).where(Job.id == job_id).with_for_update()
                )).scalar_one()
                if job.done_at is not None:
                    return  # another process finished it after our lease ran out
                handler = self._handlers.get(job.kind)
                if handler is None:
                    job.done_at, job.outcome, job.last_error = now, "failed", "no handler"
                    log.error("job %s of unknown kind %s dropped", job.id, job.kind)
                    return
                await handler(session, job, now)
                job.done_at, job.outcome, job.key = now, "done", None
            log.info("job %s %s done", job_id, job.kind)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._record_failure(job_id, now, type(exc).__name__)

    def _start_own(self, job_id: int, kind: str) -> None:
        """Run a job with transactions of its own in a task of its own."""
        task = asyncio.create_task(self._run_own(job_id, kind), name=f"job-{kind}")
        self._long_work[job_id] = task

        def forget(done: asyncio.Task[None]) -> None:
            if self._long_work.get(job_id) is done:
                del self._long_work[job_id]
                self._leases.pop(job_id, None)

        task.add_done_callback(forget)

    async def _run_own(self, job_id: int, kind: str) -> None:
        """Lease the job for its long work, run it, then mark it done.

        The lease is renewed every third of a lease while the work goes on, and only while
        it is still the lease this process wrote: a process whose lease ran out (stalled)
        and was taken over neither renews nor frees the other's. Cancelled (the app
        stopping), the job gives its lease and the attempt back: it runs again at the next
        start, not a lease later.
        """
        own, _ = self._own_transactions[kind]
        now = self._clock.now()
        try:
            if not await self._write_lease(job_id, kind):
                return  # another process finished it after our lease ran out
            async with running(self._renew_lease(job_id, kind), f"lease-{kind}"):
                await own(self._db, job_id, now)
            async with self._db.transaction() as session:
                await session.execute(update(Job).where(Job.id == job_id)
                                      .values(done_at=now, outcome="done", key=None))
            log.info("job %s %s done", job_id, kind)
        except asyncio.CancelledError:
            try:
                async with asyncio.timeout(5), self._db.transaction() as session:
                    await session.execute(
                        update(Job).where(Job.id == job_id, Job.done_at.is_(None),
                                          self._ours(job_id))
                        .values(claimed_until=None, attempts=Job.attempts - 1))
            except Exception as exc:  # it runs again once its lease runs out
                log.warning("job %s %s kept its lease when stopped (%s)",
                            job_id, kind, type(exc).__name__)
            raise
        except Exception as exc:
            await self._record_failure(job_id, now, type(exc).__name__)

    async def _write_lease(self, job_id: int, kind: str, *conditions: Any, **values: Any) -> bool:
        """Lease a job not done for its kind's long lease where ``conditions`` hold.

        Remember the lease written (``_ours``); return whether there was one to write.
        """
        until = self._clock.now() + self._own_transactions[kind][1]
        async with self._db.transaction() as session:
            leased = await session.execute(
                update(Job).where(Job.id == job_id, Job.done_at.is_(None), *conditions)
                .values(claimed_until=until, **values))
        if leased.rowcount:
            self._leases[job_id] = until
        return bool(leased.rowcount)

    def _ours(self, job_id: int) -> Any:
        """Return the condition that a job still has the lease this process last wrote."""
        return Job.claimed_until == self._leases.get(job_id)

    async def _renew_lease(self, job_id: int, kind: str) -> None:
        third = self._own_transactions[kind][1].total_seconds() / 3
        every = third
        while True:
            await asyncio.sleep(every)
            try:
                if not await self._write_lease(job_id, kind, self._ours(job_id)):
                    log.warning("job %s %s lost its lease; not renewed", job_id, kind)
                    return
                every = third
            except Exception:  # the work goes on; try again soon, before the lease runs out
                log.exception("renewing the lease of job %s %s failed", job_id, kind)
                every = min(5.0, third / 3)

    async def _record_failure(self, job_id: int, now: datetime, reason: str) -> None:
        async with self._db.transaction() as session:
            job = await session.get_one(Job, job_id)
            job.last_error = reason
            if job.attempts >= self._max_attempts:
                job.done_at, job.outcome, job.key = now, "failed", None
                log.error("job %s %s failed for good after %s attempts: %s",
                          job.id, job.kind, job.attempts, reason)
            else:
                delay = self._retry * 2 ** (job.attempts - 1)
                job.claimed_until = now + timedelta(seconds=delay)
                log.warning("job %s %s failed (%s); retry in %ss",
                            job.id, job.kind, reason, int(delay))
