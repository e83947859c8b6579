"""SQLite for SQLAlchemy's aiosqlite dialect, run on the event loop's own thread.

aiosqlite hands every call to a thread of its own and back. SQLAlchemy makes four such
calls per statement (cursor, execute, fetch, close), and each hop costs more CPU than the
statement itself: measured here, ``SELECT 1`` through SQLAlchemy took 482 µs of CPU with
aiosqlite and 105 µs run in place. SQLite on a local file in WAL mode answers in microseconds, so
running it in place is the cheaper choice, with one rule: nothing may block the loop on
another process's lock. The connection has no busy timeout; a statement that finds the
database locked (another process writing: a CLI command, a second server) is retried after
an asynchronous sleep, so the loop keeps serving while it waits.

The objects below provide what SQLAlchemy's aiosqlite adapter uses of an aiosqlite
connection; ``Database`` plugs them in with ``create_async_engine(async_creator=...)``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

BUSY_RETRY_FIRST = 0.001  # seconds; doubled on each retry up to BUSY_RETRY_MAX
BUSY_RETRY_MAX = 0.05


class DatabaseBusy(sqlite3.OperationalError):
    """Another process held SQLite's write lock for longer than the busy timeout."""


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    # The extended code (BUSY_RECOVERY, ...) keeps the primary one in its low byte.
    primary = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    return primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class InlineCursor:
    """An aiosqlite-shaped cursor whose coroutines finish without leaving the thread."""

    def __init__(self, connection: InlineConnection) -> None:
        self._connection = connection
        self._cursor = connection._conn.cursor()

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> InlineCursor:
        """Run one statement, waiting asynchronously while another process holds the lock."""
        if self._connection.yielding:
            await asyncio.sleep(0)  # a long transaction lets webhooks in between statements
        await self._connection.retry_busy(self._cursor.execute, sql, parameters or ())
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> InlineCursor:
        """Run one statement for each parameter set."""
        rows = list(parameters)  # a generator could not be replayed after a busy retry
        if self._connection.yielding:
            await asyncio.sleep(0)
        await self._connection.retry_busy(self._cursor.executemany, sql, rows)
        return self

    async def fetchall(self) -> list[Any]:
        """Return the remaining rows."""
        return self._cursor.fetchall()

    async def fetchone(self) -> Any:
        """Return the next row or None."""
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        """Return up to ``size`` rows."""
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def close(self) -> None:
        """Close the cursor."""
        self._cursor.close()

    @property
    def description(self) -> Any:
        """The DB-API description of the last result."""
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        """Rows changed by the last statement."""
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        """Row id of the last insert."""
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        """Rows ``fetchmany`` returns by default."""
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _RunNow:
    """Stands in for aiosqlite's queue to its thread: runs the function at once."""

    @staticmethod
    def put_nowait(item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # handed to the waiting future, as aiosqlite does
            if future is not None:
                future.set_exception(exc)
            return
        if future is not None:
            future.set_result(result)


class InlineConnection:
    """An aiosqlite-shaped connection running ``sqlite3`` calls in place."""

    def __init__(self, conn: sqlite3.Connection, busy_timeout: float) -> None:
        self._conn = conn
        self._connection = conn  # the adapter checks this to see whether it is open
        self._tx = _RunNow()
        self._busy_timeout = busy_timeout
        # Statements finish without leaving the thread, so a transaction holds the loop
        # from BEGIN to COMMIT; a ``yielding`` one gives it back before each statement.
        self.yielding = False

    @classmethod
    async def connect(cls, path: str, *, busy_timeout: float = 10.0) -> InlineConnection:
        """Open ``path`` with no busy timeout of SQLite's own (see ``retry_busy``)."""
        conn = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
        return cls(conn, busy_timeout)

    async def retry_busy(self, call: Callable[..., Any], *args: Any) -> Any:
        """Run ``call``; while the database is locked, sleep without blocking and retry."""
        deadline, delay = None, BUSY_RETRY_FIRST
        while True:
            try:
                return call(*args)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
                now = time.monotonic()
                deadline = deadline or now + self._busy_timeout
                if now >= deadline:
                    raise DatabaseBusy(f"{exc} (waited {self._busy_timeout:g} s)") from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, BUSY_RETRY_MAX)

    async def begin_immediate(self) -> None:
        """Start a write transaction, waiting (without blocking) for another process's lock."""
        await self.retry_busy(self._conn.execute, "BEGIN IMMEDIATE")

    async def fetch(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        """Run one statement straight on ``sqlite3`` and return its rows."""
        cursor = await self.retry_busy(self._conn.execute, sql, parameters)
        try:
            return cursor.fetchall()
        finally:
            cursor.close()

    def cursor(self) -> InlineCursor:
        """Return a new cursor (SQLAlchemy enters it with ``async with``)."""
        return InlineCursor(self)

    async def commit(self) -> None:
        """Commit (retried while another process holds the lock)."""
        await self.retry_busy(self._conn.commit)

    async def rollback(self) -> None:
        """Roll back."""
        self._conn.rollback()

    async def close(self) -> None:
        """Close the connection."""
        self._conn.close()
        self._connection = None

    def stop(self) -> None:
        """Close at once (SQLAlchemy's terminate)."""
        self._conn.close()
        self._connection = None

    async def create_function(self, *args: Any, **kw: Any) -> None:
        """Register a SQL function."""
        self._conn.create_function(*args, **kw)

    @property
    def isolation_level(self) -> str | None:
        """The sqlite3 module's isolation level (None: we issue BEGIN ourselves)."""
        return self._conn.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._conn.isolation_level = value
