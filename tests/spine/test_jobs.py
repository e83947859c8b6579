"""Durable timers: due jobs run once, survive a restart, and retry after failures."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.clock import FrozenClock
from helpline.db import Database
from helpline.jobs import service as jobs
from helpline.jobs.models import Job
from helpline.jobs.runner import JobRunner


class Recorder:
    """A job handler that records what it was asked to do."""

    def __init__(self, fail_times: int = 0) -> None:
        self.calls: list[dict] = []
        self.fail_times = fail_times

    async def __call__(self, session: AsyncSession, job: Job, now: datetime) -> None:
        """Record the job, failing the first ``fail_times`` calls."""
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("handler failed")
        self.calls.append(job.payload)


def runner_with(db: Database, clock: FrozenClock, handler: Recorder) -> JobRunner:
    """Return a runner with ``handler`` registered for kind 'test'."""
    runner = JobRunner(db=db, clock=clock, retry_seconds=10)
    runner.register("test", handler)
    return runner


async def schedule(db: Database, clock: FrozenClock, seconds: float, key: str | None = None,
                   **payload: int) -> None:
    """Schedule a 'test' job ``seconds`` from now."""
    async with db.transaction() as session:
        await jobs.schedule(session, kind="test", due_at=clock.advance(0) + _td(seconds),
                            now=clock.now(), payload=payload, key=key)


def _td(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


async def test_job_runs_when_due_not_before(db: Database, clock: FrozenClock) -> None:
    """Test that a job does not run before its due time and runs once after it."""
    handler = Recorder()
    runner = runner_with(db, clock, handler)
    await schedule(db, clock, 60, n=1)
    await runner.run_once()
    assert handler.calls == []
    clock.advance(61)
    await runner.run_once()
    await runner.run_once()
    assert handler.calls == [{"n": 1}]


async def test_job_survives_a_restart(db: Database, clock: FrozenClock) -> None:
    """Test that a job scheduled before a restart runs on a new runner afterwards."""
    await schedule(db, clock, 30, n=2)
    await db.dispose()  # the old process is gone
    handler = Recorder()
    clock.advance(31)
    restarted = Database(db.url)
    try:
        await runner_with(restarted, clock, handler).run_once()
    finally:
        await restarted.dispose()
    assert handler.calls == [{"n": 2}]


async def test_two_runners_run_a_job_once(db: Database, clock: FrozenClock) -> None:
    """Test that two runners polling together fire each job exactly once."""
    import asyncio

    handler = Recorder()
    for n in range(10):
        await schedule(db, clock, 0, n=n)
    other = Database(db.url)
    try:
        await asyncio.gather(runner_with(db, clock, handler).run_once(),
                             runner_with(other, clock, handler).run_once())
    finally:
        await other.dispose()
    assert sorted(call["n"] for call in handler.calls) == list(range(10))


async def test_failed_job_is_retried_after_backoff(db: Database, clock: FrozenClock) -> None:
    """Test that a failing handler is retried later, not at once, and then succeeds."""
    handler = Recorder(fail_times=1)
    runner = runner_with(db, clock, handler)
    await schedule(db, clock, 0, n=3)
    await runner.run_once()
    await runner.run_once()
    assert handler.calls == []
    clock.advance(11)
    await runner.run_once()
    assert handler.calls == [{"n": 3}]


async def test_same_key_is_scheduled_once(db: Database, clock: FrozenClock) -> None:
    """Test that scheduling a key that is already pending keeps one job."""
    await schedule(db, clock, 10, key="conversation:1:reminder", n=1)
    await schedule(db, clock, 20, key="conversation:1:reminder", n=2)
    async with db.reader() as session:
        assert len((await session.execute(select(Job))).all()) == 1


async def test_cancelled_job_never_runs(db: Database, clock: FrozenClock) -> None:
    """Test that a cancelled job does not fire and frees its key."""
    handler = Recorder()
    await schedule(db, clock, 10, key="k", n=1)
    async with db.transaction() as session:
        assert await jobs.cancel(session, keys=["k"], now=clock.now()) == 1
    await schedule(db, clock, 10, key="k", n=2)
    clock.advance(11)
    await runner_with(db, clock, handler).run_once()
    assert handler.calls == [{"n": 2}]


async def test_job_of_unknown_kind_is_dropped_loudly(db: Database, clock: FrozenClock) -> None:
    """Test that a job nobody handles is marked failed instead of looping forever."""
    async with db.transaction() as session:
        await jobs.schedule(session, kind="nobody", due_at=clock.now(), now=clock.now())
    await JobRunner(db=db, clock=clock).run_once()
    async with db.reader() as session:
        job = (await session.execute(select(Job))).scalar_one()
    assert (job.outcome, job.last_error) == ("failed", "no handler")


async def test_a_job_with_transactions_of_its_own_runs_outside_the_jobs(
        db: Database, clock: FrozenClock) -> None:
    """Test that such a job commits its own work, is retried on failure, then marked done."""
    failures = [RuntimeError("first try fails")]

    async def work(database: Database, job_id: int, now: datetime) -> None:
        async with database.transaction() as session:  # not nested in the job's
            await jobs.schedule(session, kind="other", due_at=now + _td(3600), now=now,
                                key=f"made-by-{job_id}-{len(failures)}")
        if failures:
            raise failures.pop()

    runner = JobRunner(db=db, clock=clock, retry_seconds=10)
    runner.register_own_transactions("test", work)
    await schedule(db, clock, 0)
    await runner.run_once()
    await runner.long_work_done()
    async with db.reader() as session:
        job = (await session.execute(select(Job).where(Job.kind == "test"))).scalar_one()
        made = (await session.execute(select(Job.key).where(Job.kind == "other"))).scalars()
        assert (job.done_at, job.last_error) == (None, "RuntimeError")
        assert list(made) == [f"made-by-{job.id}-1"]  # kept: the job's failure undid nothing
    clock.advance(60)
    await runner.run_once()
    await runner.long_work_done()
    async with db.reader() as session:
        job = (await session.execute(select(Job).where(Job.kind == "test"))).scalar_one()
    assert (job.outcome, job.attempts) == ("done", 2)


async def test_long_work_runs_beside_the_timers_under_a_long_lease(
        db: Database, clock: FrozenClock) -> None:
    """Test that timers do not wait for long work claimed with them, nor fall due behind it.

    Its lease outlasts the work, so that no other process starts it again meanwhile.
    """
    handler = Recorder()
    release = asyncio.Event()

    async def work(database: Database, job_id: int, now: datetime) -> None:
        async with database.reader() as session:
            job = await session.get_one(Job, job_id)
        assert job.claimed_until is not None
        assert job.claimed_until >= now + _td(3000)
        await release.wait()  # a long purge

    runner = JobRunner(db=db, clock=clock, retry_seconds=10)
    runner.register("test", handler)
    runner.register_own_transactions("long", work, lease_seconds=3600)
    async with db.transaction() as session:  # the long job first in id and due order
        await jobs.schedule(session, kind="long", due_at=clock.now(), now=clock.now())
    await schedule(db, clock, 0, n=1)
    assert await runner.run_once() == 2
    assert handler.calls == [{"n": 1}]
    await schedule(db, clock, 0, n=2)  # falls due while the long work goes on
    assert await runner.run_once() == 1
    assert handler.calls == [{"n": 1}, {"n": 2}]
    release.set()
    await runner.long_work_done()
    async with db.reader() as session:
        outcome = (await session.execute(select(Job.outcome).where(Job.kind == "long"))
                   ).scalar_one()
    assert outcome == "done"


class LongWork:
    """Long work that says when it has started and runs until released."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, database: Database, job_id: int, now: datetime) -> None:
        """Record the start, then wait to be released."""
        self.started.append(job_id)
        self.entered.set()
        await self.release.wait()

    async def running(self) -> None:
        """Wait until the work has started."""
        await asyncio.wait_for(self.entered.wait(), 10)


def long_runner(db: Database, clock: FrozenClock, work: LongWork,
                lease_seconds: float = 3600) -> JobRunner:
    """Return a runner with ``work`` registered as kind 'long'."""
    runner = JobRunner(db=db, clock=clock, retry_seconds=10)
    runner.register_own_transactions("long", work, lease_seconds=lease_seconds)
    return runner


async def long_job(db: Database, clock: FrozenClock) -> Job:
    """Schedule a 'long' job due now; return it."""
    async with db.transaction() as session:
        return await jobs.schedule(session, kind="long", due_at=clock.now(), now=clock.now())


@contextlib.asynccontextmanager
async def long_job_running(db: Database, clock: FrozenClock, work: LongWork,
                           lease_seconds: float = 3600) -> AsyncIterator[JobRunner]:
    """Schedule a 'long' job, have a runner start ``work`` for it, and yield the runner.

    The work is released, and waited for, when the block ends.
    """
    runner = long_runner(db, clock, work, lease_seconds)
    await long_job(db, clock)
    await runner.run_once()
    await work.running()
    try:
        yield runner
    finally:
        work.release.set()
        await runner.long_work_done()


async def the_long_job(db: Database) -> Job:
    """Return the 'long' job as stored."""
    async with db.reader() as session:
        return (await session.execute(select(Job).where(Job.kind == "long"))).scalar_one()


async def test_long_work_renews_its_lease_while_it_runs(db: Database,
                                                         clock: FrozenClock) -> None:
    """Test that long work outlasting its lease keeps it, so no other runner starts it too."""
    work = LongWork()
    async with long_job_running(db, clock, work, lease_seconds=0.1):
        clock.advance(1)  # the first lease has run out
        await asyncio.sleep(0.15)  # renewals fall due (every third of a lease)
        assert await long_runner(db, clock, work, 0.1).run_once() == 0
    assert len(work.started) == 1


async def test_long_work_claimed_again_while_it_runs_is_not_started_twice(
        db: Database, clock: FrozenClock) -> None:
    """Test that a runner whose own job's lease ran out does not start a second copy."""
    work = LongWork()
    async with long_job_running(db, clock, work) as runner:
        clock.advance(7200)  # the lease ran out before any renewal (a stalled clock, a suspend)
        assert await runner.run_once() == 1
        job = await the_long_job(db)
        assert job.attempts == 1  # claimed again, but not another attempt
        assert job.claimed_until == clock.now() + timedelta(seconds=3600)  # the long lease
    assert len(work.started) == 1


async def test_long_work_stopped_with_the_app_gives_its_lease_back(
        db: Database, clock: FrozenClock) -> None:
    """Test that long work cancelled at shutdown runs again at the next start, not an hour on."""
    work = LongWork()
    runner = long_runner(db, clock, work)
    await long_job(db, clock)
    await runner.run_once()
    await work.running()
    await runner.stop_long_work()
    job = await the_long_job(db)
    assert (job.claimed_until, job.attempts, job.done_at) == (None, 0, None)
    restarted = long_runner(db, clock, work)
    work.entered.clear()
    try:
        assert await restarted.run_once() == 1  # at once, with no clock moved
        await work.running()
    finally:
        await restarted.stop_long_work()
    assert len(work.started) == 2


async def test_a_stalled_runner_stopping_leaves_the_lease_it_lost_alone(
        db: Database, clock: FrozenClock) -> None:
    """Test that a runner whose lease was taken over neither frees nor renews the new one.

    Else a third runner would start the purge beside the one that took it over.
    """
    stalled_work, taker_work, third_work = LongWork(), LongWork(), LongWork()
    stalled, taker = long_runner(db, clock, stalled_work), long_runner(db, clock, taker_work)
    await long_job(db, clock)
    await stalled.run_once()
    await stalled_work.running()
    clock.advance(7200)  # the stalled runner's lease ran out; another takes the job
    try:
        assert await taker.run_once() == 1
        await taker_work.running()
        taken = (await the_long_job(db)).claimed_until
        await stalled.stop_long_work()
        assert (await the_long_job(db)).claimed_until == taken
        assert await long_runner(db, clock, third_work).run_once() == 0
    finally:
        taker_work.release.set()
        await taker.long_work_done()
    assert third_work.started == []
