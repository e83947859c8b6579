"""Benchmark the inbox worker: how fast stored texts are filed, triaged and answered.

Stores ``--messages`` texts from ``--texters`` numbers in the inbox (as the webhook does),
then times the worker filing all of them: conversation, message, lexicon, flow step,
replies into the outbox. Prints messages a second, CPU milliseconds per message (the
worker shares the web process's core, so its CPU per message is what the webhook loses)
and the longest stalls of the event loop meanwhile (a webhook waits at least that long).

Run: ``.venv/bin/python tests/bench/bench_inbox.py [--messages 2000] [--database-url URL]
[--profile out.prof]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import random
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from helpline import appkeys
from helpline.app import create_app, freeze_after_startup
from helpline.clock import SystemClock
from helpline.inbox.models import DONE, InboxMessage
from helpline.inbox.service import Arrival
from helpline.migrate import upgrade
from helpline.settings import load_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # ``tests`` when run as a file
from tests.bench import bench_sms as sms


@contextlib.asynccontextmanager
async def started_app(db_url: str, tmp: Path) -> AsyncIterator[web.Application]:
    """Migrate ``db_url`` and start the app in-process, its background workers off."""
    await upgrade(db_url)
    settings = load_settings(tmp / "no-config.toml", var_dir=tmp, database_url=db_url,
                             log_level="WARNING")
    app = create_app(settings, run_workers=False)
    runner = web.AppRunner(app)
    await runner.setup()
    await freeze_after_startup(app)  # as `helpline serve` does
    try:
        yield app
    finally:
        await runner.cleanup()


async def bench(args: argparse.Namespace, tmp: Path) -> bool:
    """Fill the inbox, drain it with the worker, print the figures."""
    db_url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'helpline.db'}"
    pg_name = None
    if db_url.startswith("postgres"):
        db_url = await sms.postgres_database(db_url)
        pg_name = make_url(db_url).database
    try:
        async with started_app(db_url, tmp) as app:
            return await _drain(app, args)
    finally:
        if pg_name:
            await sms.postgres_database(args.database_url, drop=pg_name)


async def _drain(app: web.Application, args: argparse.Namespace) -> bool:
    inbox, worker, db = app[appkeys.INBOX], app[appkeys.INBOX_WORKER], app[appkeys.DB]
    rng, now = random.Random(7), SystemClock().now()
    for start in range(0, args.messages, 500):
        await asyncio.gather(*(
            inbox.store(Arrival(provider_sid="SM" + uuid.uuid4().hex,
                                sender=f"+447700900{rng.randrange(args.texters):03d}",
                                text=rng.choice(sms.BODIES), received_at=now))
            for _ in range(start, min(args.messages, start + 500))))
    profile = cProfile.Profile() if args.profile else None
    stalls: list[float] = []
    watch = asyncio.create_task(_watch_loop(stalls))
    wall, cpu = time.perf_counter(), time.process_time()
    if profile:
        profile.enable()
    filed = 0
    while True:
        done = await worker.run_once()
        if not done:
            break
        filed += done
    if profile:
        profile.disable()
        profile.dump_stats(args.profile)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    watch.cancel()
    stalls.sort()
    async with db.reader() as session:
        statuses = dict((await session.execute(
            select(InboxMessage.status, func.count()).group_by(InboxMessage.status))).all())
    print(f"database        {db.engine.dialect.name}")
    print(f"messages        {args.messages} from {args.texters} texters")
    print(f"filed           {filed} in {wall:.2f} s: {filed / wall:.0f} messages/s")
    print(f"cpu per message {cpu / max(filed, 1) * 1e3:.2f} ms (this process, all threads)")
    print(f"loop stalls     p99 {stalls[int(len(stalls) * 0.99)] * 1e3:.1f} ms, "
          f"max {stalls[-1] * 1e3:.1f} ms (how long a webhook could not even be read)")
    print(f"inbox statuses  {statuses}")
    return statuses.get(DONE, 0) == args.messages


async def _watch_loop(stalls: list[float], tick: float = 0.001) -> None:
    """Record how late each ``tick`` sleep wakes: the time the loop was held by filing."""
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        await asyncio.sleep(tick)
        stalls.append(max(0.0, loop.time() - started - tick))


def main() -> int:
    """Parse arguments and run in a temp dir."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--texters", type=int, default=1000, choices=range(1, 1001),
                        metavar="1..1000")
    parser.add_argument("--database-url", help="e.g. postgresql+asyncpg://postgres@127.0.0.1/x")
    parser.add_argument("--profile", help="write a cProfile of the drain here")
    return sms.run_in_temp_dir(bench, parser.parse_args(), "helpline-bench-inbox-")


if __name__ == "__main__":
    sys.exit(main())
