"""Copy SQLite's write-ahead log into the database file on a thread, never on the loop.

SQLite checkpoints on its own inside whichever commit makes the log pass 1,000 pages: that
commit then copies the pages and waits for the disk. SQLite runs on the event loop's thread
here (``helpline.sqlite_inline``), so that commit stopped the loop: measured while filing
2,000 texts, 48 commits took over 5 ms, the longest 91 ms, and every webhook waited.

So the service's connections never checkpoint (``PRAGMA wal_autocheckpoint=0``), and each
serving process runs a ``Checkpointer``: a PASSIVE checkpoint every second, on a connection
of its own in a worker thread (``sqlite3`` lets go of the GIL while it works). A PASSIVE
checkpoint never blocks a writer or a reader, but under steady writes no writer ever finds
the log fully copied when it starts, so the log would only grow (measured: 125 MB in 10 s
at 200 texts a second). Once it holds ``RESTART_PAGES``, a RESTART checkpoint starts it
again from the top: new writers wait for that moment (asynchronously, see
``sqlite_inline.retry_busy``) while the pages are already copied. When every connection
closes, SQLite checkpoints and removes the log as usual.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3

log = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 1.0
# The log file is cut back to this size after a checkpoint has emptied it.
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024
# Once the log holds this many pages (16 MiB of 4 KiB pages), start it again from the top.
RESTART_PAGES = 4096
RESTART_WAIT_SECONDS = 0.1  # for readers and the writer to finish; new writers wait meanwhile


class Checkpointer:
    """Checkpoint one SQLite database from a worker thread, every ``every`` seconds."""

    def __init__(self, path: str, *, every: float = CHECKPOINT_SECONDS) -> None:
        self._path = path
        self._every = every
        self._conn: sqlite3.Connection | None = None

    async def run(self) -> None:
        """Checkpoint until cancelled; a failed checkpoint is logged and tried again."""
        try:
            while True:
                await asyncio.sleep(self._every)
                try:
                    await self.once()
                except sqlite3.Error as exc:
                    log.warning("WAL checkpoint failed (%s); trying again",
                                type(exc).__name__)
        finally:
            self.close()

    async def once(self) -> tuple[int, int, int]:
        """Checkpoint once (and restart a long log); return (busy, pages in log, pages copied)."""
        work = asyncio.ensure_future(asyncio.to_thread(self._checkpoint))
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            await asyncio.wait([work])  # the thread still holds the connection
            raise

    def close(self) -> None:
        """Close the checkpointer's connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _checkpoint(self) -> tuple[int, int, int]:
        if self._conn is None:
            self._conn = sqlite3.connect(self._path, timeout=RESTART_WAIT_SECONDS,
                                         isolation_level=None, check_same_thread=False)
            self._conn.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
        busy, pages, copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if not busy and copied == pages >= RESTART_PAGES:
            # Every page is copied, but a busy database never gives a writer the moment to
            # start the log again from the top. RESTART makes that moment: it holds new
            # writers (they wait without blocking the loop) until the readers are done.
            self._conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        return busy, pages, copied
