"""Background work: tasks that live as long as a block, the workers' polling loop, their share."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator
from typing import Any

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def running(coroutine: Coroutine[Any, Any, None], name: str) -> AsyncIterator[None]:
    """Start ``coroutine`` as a task; cancel it and wait for it when the block ends."""
    task = asyncio.create_task(coroutine, name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def poll_forever(run_once: Callable[[], Awaitable[int]], *, wake: asyncio.Event,
                       batch_size: int, poll_seconds: float, what: str) -> None:
    """Call ``run_once`` until cancelled (the loop of the inbox, outbox and job workers).

    After a full batch it runs again at once; otherwise it waits for ``wake`` or
    ``poll_seconds``. A failing pass is logged and retried, never fatal.
    """
    while True:
        wake.clear()
        try:
            done = await run_once()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s pass failed; retrying", what)
            done = 0
        if done >= batch_size:
            continue  # more may be due right away
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(poll_seconds):
                await wake.wait()


class _Counted:
    """Await a coroutine, adding up the CPU time of its own steps only.

    A task's time between two awaits is the loop thread's CPU spent on it; what other tasks
    do while it waits is not counted (``time.thread_time`` around each step).
    """

    def __init__(self, coroutine: Coroutine[Any, Any, Any], count: Callable[[float], None]) -> None:
        self._coroutine = coroutine
        self._count = count

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine, value, error = self._coroutine, None, None
        while True:
            started = time.thread_time()
            try:
                yielded = coroutine.send(value) if error is None else coroutine.throw(error)
            except StopIteration as stop:
                return stop.value
            finally:
                self._count(time.thread_time() - started)
            value, error = None, None
            try:
                value = yield yielded  # the future it waits on, up to the task
            except BaseException as exc:  # a cancellation: passed on to it
                error = exc


class LoopShare:
    """Hold a task to ``share`` of the loop's thread while a flood keeps the loop busy.

    The task runs its work through ``counted``, which adds up the CPU of the work's own
    steps, and awaits ``turn()`` between pieces of it. While ``flooding()`` says so,
    ``turn()`` pauses for ``(1 - share) / share`` times the CPU the task used, so that the
    flood gets the rest: ``step`` seconds first, then up to ten times that (each wake-up
    costs CPU too). A pause in which the thread was idle half the time or more ends the
    wait: the loop has time to spare. Idle is what the thread neither ran nor waited for a
    core (``run_delay``): time the host gave to other processes is not spare. The flood's
    end ends the wait too. CPU used outside a flood is not counted, and up to ``burst``
    seconds of it go at once when a flood begins: outside one, the task never waits.
    """

    def __init__(self, share: float, *, flooding: Callable[[], bool], burst: float = 0.05,
                 step: float = 0.002) -> None:
        if not 0 < share < 1:
            raise ValueError("share must be between 0 and 1")
        self._repaid = share / (1 - share)  # CPU seconds earned a second of pausing
        self._flooding = flooding
        self._burst = burst
        self._step = step
        self._credit = burst
        self._own = 0.0  # this task's CPU in a flood, since the last turn
        self.waited = 0.0  # seconds paused, all turns together (what the tests read)

    def counted(self, coroutine: Coroutine[Any, Any, Any]) -> Awaitable[Any]:
        """Return an awaitable that runs ``coroutine`` and counts its own CPU to this task."""
        return _Counted(coroutine, self._spent)

    def _spent(self, seconds: float) -> None:
        if self._flooding():
            self._own += seconds

    async def turn(self) -> None:
        """Pay for the CPU counted since the last turn, waiting while a flood lasts."""
        if not self._flooding():
            self._credit, self._own = self._burst, 0.0
            return
        self._credit, self._own = min(self._burst, self._credit - self._own), 0.0
        pause = self._step  # a short first look; then longer
        while self._credit < 0 and self._flooding():
            wall, cpu, delay = time.monotonic(), time.thread_time(), run_delay()
            await asyncio.sleep(pause)
            elapsed = time.monotonic() - wall
            idle = elapsed - (time.thread_time() - cpu) - (run_delay() - delay)
            self.waited += elapsed
            if idle >= elapsed / 2:  # the loop has time to spare
                break
            self._credit += self._repaid * elapsed
            pause = min(10 * self._step, -self._credit / self._repaid)
        self._credit = max(self._credit, 0.0)  # no debt is carried past the wait


_SCHEDSTAT = "/proc/thread-self/schedstat"


def run_delay() -> float:
    """Return the seconds this thread has waited for a core so far (0 if the system says not).

    Linux's schedstat for the thread: time on a core, time runnable but waiting, slices.
    """
    try:
        with open(_SCHEDSTAT, "rb") as stats:
            return int(stats.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0
