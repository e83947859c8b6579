"""Benchmark the retention purge on a year of a busy line's data, on SQLite.

Fills a migrated database with generated rows (``--scale 1``: 100,000 contacts, 150,000
conversations, 1.5 million messages, 750,000 outgoing texts, 500,000 audit events, 20,000
finished jobs, spread over a year, content already purged where a purge running every six
hours would have removed it), then runs the purge as the service's job does, three times:
the first after migration 0011 (every closed conversation still to mark), again at once
(nothing to do), and six hours later (a usual run). Prints each run's time and the longest
the event loop was held meanwhile: a webhook arriving then waits at least that long.

Run: ``.venv/bin/python tests/bench/bench_purge.py [--scale 1.0]``
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # ``tests`` when run as a file
from helpline.db import Database
from helpline.migrate import upgrade
from helpline.privacy.retention import close_inactive, purge
from helpline.settings import RetentionSettings
from tests.bench import bench_sms as sms
from tests.bench.bench_inbox import _watch_loop

# Row counts at scale 1, and the SQL that makes them ({n}: rows; 'now' is the real time).
FILL = {
    "contacts": (100_000, """
        INSERT INTO contacts (id, pseudonym, pseudonym_version, address_enc, created_at,
                              last_seen_at)
        SELECT i, printf('p%063d', i), 1,
               CASE WHEN i > {n} * 0.98 THEN 'gAAAAAB' || hex(randomblob(60)) END,
               strftime('%Y-%m-%d %H:%M:%f', 'now', printf('-%d seconds', ({n} - i) * 315)),
               strftime('%Y-%m-%d %H:%M:%f', 'now', printf('-%d seconds', ({n} - i) * 315))
        FROM n"""),
    "conversations": (150_000, """
        INSERT INTO conversations (id, contact_id, channel, status, priority, flags, results,
                                   created_at, updated_at, closed_at, answers_enc)
        SELECT i, 1 + (i * 7) % {contacts}, 'sms',
               CASE WHEN i > {n} - 1000 THEN 'open' ELSE 'closed' END, 'standard', '[]', '{{}}',
               strftime('%Y-%m-%d %H:%M:%f', 'now', printf('-%d seconds', ({n} - i) * 210)),
               strftime('%Y-%m-%d %H:%M:%f', 'now', printf('-%d seconds', ({n} - i) * 210)),
               CASE WHEN i <= {n} - 1000 THEN strftime('%Y-%m-%d %H:%M:%f', 'now',
                    printf('-%d seconds', ({n} - i) * 210 - 3600)) END,
               CASE WHEN i > {n} * 0.91 THEN 'gAAAAAB' || hex(randomblob(40)) END
        FROM n"""),
    "messages": (1_500_000, """
        INSERT INTO messages (id, conversation_id, direction, author, body_enc, provider_sid,
                              created_at)
        SELECT i, 1 + (i - 1) / 10, CASE WHEN i % 2 THEN 'in' ELSE 'out' END, 'texter',
               CASE WHEN i > {n} * 0.91 THEN 'gAAAAAB' || hex(randomblob(60)) END,
               CASE WHEN i % 2 THEN printf('SM%032d', i) END,
               strftime('%Y-%m-%d %H:%M:%f', 'now', printf('-%d seconds', ({n} - i) * 21))
        FROM n"""),
    "outbox": (750_000, """
        INSERT INTO outbox (id, purpose, channel, contact_id, conversation_id, message_id,
                            to_enc, body_enc, status, attempts, next_attempt_at, created_at)
        SELECT i, 'reply', 'sms', 1 + (i * 7) % {contacts}, 1 + (i - 1) / 5, 2 * i,
               CASE WHEN i > {n} * 0.997 THEN 'gAAAAAB' || hex(randomblob(40)) END,
               CASE WHEN i > {n} * 0.997 THEN 'gAAAAAB' || hex(randomblob(60)) END,
               'sent', 1,
               strftime('%Y-%m-%d %H:%M:%f', 'now', printf('-%d seconds', ({n} - i) * 42)),
               strftime('%Y-%m-%d %H:%M:%f', 'now', printf('-%d seconds', ({n} - i) * 42))
        FROM n"""),
    "audit_events": (500_000, """
        INSERT INTO audit_events (id, at, actor, action, details)
        SELECT i, strftime('%Y-%m-%d %H:%M:%f', 'now', printf('-%d seconds', ({n} - i) * 63)),
               'system', 'conversation.viewed', '{{}}'
        FROM n"""),
    "jobs": (20_000, """
        INSERT INTO jobs (id, kind, payload, due_at, attempts, created_at, done_at, outcome)
        SELECT i, 'flow.timer', '{{}}',
               strftime('%Y-%m-%d %H:%M:%f', 'now', printf('-%d seconds', ({n} - i) * 130)), 1,
               strftime('%Y-%m-%d %H:%M:%f', 'now', printf('-%d seconds', ({n} - i) * 130)),
               strftime('%Y-%m-%d %H:%M:%f', 'now', printf('-%d seconds', ({n} - i) * 130)),
               'done'
        FROM n"""),
}


def fill(path: Path, scale: float) -> dict[str, int]:
    """Write the generated rows into the migrated SQLite file; return the counts."""
    counts = {table: max(1, int(rows * scale)) for table, (rows, _sql) in FILL.items()}
    conn = sqlite3.connect(path)
    with conn:
        for table, (_rows, sql) in FILL.items():
            n = counts[table]
            rows = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})"
            # Our own constants and integer counts, no outside input.
            conn.execute((rows + " " + sql).format(n=n, contacts=counts["contacts"]))
    conn.close()
    return counts


async def timed_purge(db: Database, now: datetime) -> tuple[float, float, dict[str, int]]:
    """Run the purge job's work at ``now``; return seconds, the longest loop stall, counts."""
    stalls: list[float] = []
    watcher = asyncio.create_task(_watch_loop(stalls))
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    policy = RetentionSettings()
    closed = await close_inactive(db, policy=policy, now=now)
    report = await purge(db, policy=policy, now=now)
    took = time.perf_counter() - started
    await asyncio.sleep(0.01)
    watcher.cancel()
    counts = {"closed": closed, **{k: v for k, v in vars(report).items() if v}}
    return took, max(stalls, default=0.0), counts


async def bench(args: argparse.Namespace, tmp: Path) -> bool:
    """Fill, then purge three times; print the figures."""
    path = tmp / "helpline.db"
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade(url)
    started = time.perf_counter()
    counts = fill(path, args.scale)
    print(f"filled in {time.perf_counter() - started:.1f} s: "
          + ", ".join(f"{n:,} {table}" for table, n in counts.items()))
    db = Database(url)
    now = datetime.now(UTC)
    try:
        for label, at in (("first after 0011", now), ("again at once", now),
                          ("six hours later", now + timedelta(hours=6))):
            took, stall, done = await timed_purge(db, at)
            print(f"{label:18} {took * 1000:8.0f} ms   longest loop stall "
                  f"{stall * 1000:6.1f} ms   {done}")
    finally:
        await db.dispose()
    return True


def main() -> int:
    """Parse arguments and run in a temp dir."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0: a year of a busy line")
    return sms.run_in_temp_dir(bench, parser.parse_args(), "helpline-bench-purge-")


if __name__ == "__main__":
    sys.exit(main())
