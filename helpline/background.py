"""Background work: tasks that live as long as a block, and the workers' polling loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
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
