"""Database plumbing: one code path for SQLite and PostgreSQL, chosen by URL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, Integer, MetaData, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from helpline.sqlite_checkpoint import JOURNAL_SIZE_LIMIT, Checkpointer
from helpline.sqlite_inline import InlineConnection

log = logging.getLogger(__name__)

# How long a statement waits while another process holds SQLite's write lock.
SQLITE_BUSY_TIMEOUT_SECONDS = 10.0

# Integer primary keys that autoincrement on both databases.
BigId = BigInteger().with_variant(Integer, "sqlite")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base class of every table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def partial_index(name: str, *columns: str, where: str) -> Index:
    """Return an index of only the rows ``where`` holds (SQL both databases read alike).

    A query uses it only if its own WHERE has that condition too, written the same way.
    """
    return Index(name, *columns, sqlite_where=text(where), postgresql_where=text(where))


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Store aware times as UTC (naive UTC on SQLite); refuse naive ones."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use an aware UTC time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Return stored times as aware UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class DatabaseConfigError(Exception):
    """The database URL cannot be used; the message says why and what to do."""


def normalise_url(url: str) -> str:
    """Return ``url`` with the async driver this project uses for its database."""
    parsed = make_url(url)
    drivers = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg",
               "postgres": "postgresql+asyncpg"}
    if parsed.drivername in drivers:
        parsed = parsed.set(drivername=drivers[parsed.drivername])
    if parsed.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise DatabaseConfigError(
            f"HELPLINE_DATABASE_URL: unsupported database {parsed.drivername!r}; "
            "use sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db"
        )
    return parsed.render_as_string(hide_password=False)


AfterCommit = Callable[[], None]


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run ``callback`` once the session's transaction has committed (e.g. wake a worker)."""
    callbacks: list[AfterCommit] = session.info.setdefault("after_commit", [])
    if callback not in callbacks:
        callbacks.append(callback)


class Database:
    """An engine, its session factory, and transactions that behave the same on both databases."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        options: dict[str, Any] = {"pool_size": 10, "max_overflow": 10, "pool_pre_ping": True}
        if self.is_sqlite:
            options = {"async_creator": _inline_sqlite(self.url)}
        try:
            self.engine: AsyncEngine = create_async_engine(
                self.url,
                echo=echo,
                hide_parameters=True,  # parameters may hold pseudonyms and ciphertext
                **options,
            )
        except ModuleNotFoundError as exc:
            raise DatabaseConfigError(
                f"the driver for {make_url(self.url).drivername} is not installed "
                f"({exc.name}); run `make install`"
            ) from exc
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time. Serialising write transactions in-process avoids
        # "database is locked" between our own connections; BEGIN IMMEDIATE, retried without
        # blocking the loop (helpline.sqlite_inline), covers other processes.
        self._write_lock = _WriteLock() if self.is_sqlite else None
        self._inbox: InlineConnection | None = None  # see inbox_transaction
        # The main SQLite file, and the inbox's beside it (``inbox_path``).
        self.path: str | None = (make_url(self.url).database or "") if self.is_sqlite else None
        self._inbox_path = inbox_path(self.path) if self.path is not None else None
        if self._inbox_path is not None:
            _configure_sqlite(self.engine, self._inbox_path)

    @contextlib.asynccontextmanager
    async def transaction(self, *, first: bool = False,
                          yielding: bool = False) -> AsyncIterator[AsyncSession]:
        """Open a session in one transaction: commit on success, roll back on error.

        ``first``: on SQLite, go ahead of waiting background work (an urgent filing).
        ``yielding``: on SQLite, let the loop run other tasks before each statement, and
        take the main file's write lock only, not the inbox's, so webhooks keep committing
        meanwhile. For long transactions (filing a text) that do not read the inbox: a
        read of it, then a write after webhooks committed, could not go on (SQLite can
        only write from the newest snapshot). A write to the inbox takes its lock then.
        """
        lock = self._write_lock.hold(first=first) if self._write_lock else contextlib.nullcontext()
        async with lock, self._session(yielding=yielding and self.is_sqlite) as session:
            async with session.begin():
                yield session
            callbacks = session.info.pop("after_commit", [])
        for callback in callbacks:
            callback()

    @contextlib.asynccontextmanager
    async def _session(self, *, yielding: bool) -> AsyncIterator[AsyncSession]:
        if not yielding:
            async with self.sessionmaker() as session:
                yield session
            return
        async with self.engine.connect() as conn:
            await conn.execution_options(helpline_main_only=True)
            driver = (await conn.get_raw_connection()).driver_connection
            driver.yielding = True
            try:
                async with self.sessionmaker(bind=conn) as session:
                    yield session
            finally:
                driver.yielding = False

    @contextlib.asynccontextmanager
    async def inbox_transaction(self) -> AsyncIterator[InlineConnection]:
        """Open a write transaction on the inbox's own SQLite file, without SQLAlchemy.

        Only for the inbox's group commit, the one statement every webhook waits for. The
        inbox has a file, and a write lock, of its own (``inbox_path``), so a webhook never
        waits for a text being filed into the main file. SQLAlchemy's own work was most of
        the cost (measured: 480 µs of CPU to commit one row through a session, 60 µs on
        the driver). Run ``DriverStatement``s on it; one task at a time.
        """
        if self._inbox_path is None:
            raise TypeError("inbox_transaction is for SQLite databases only")
        if self._inbox is None:  # one connection kept for it: opening one costs ~100 µs
            self._inbox = await InlineConnection.connect(
                self._inbox_path, busy_timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
            for pragma in _pragmas("main"):
                await self._inbox.fetch(pragma)
        driver = self._inbox
        await driver.begin_immediate()
        try:
            yield driver
        except BaseException:
            await driver.rollback()
            raise
        await driver.commit()

    def checkpointers(self) -> list[Checkpointer]:
        """Return the WAL checkpointers a serving process runs on SQLite (none on PostgreSQL)."""
        if self.path is None or self._inbox_path is None:
            return []
        return [Checkpointer(self.path), Checkpointer(self._inbox_path)]

    @contextlib.asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncSession]:
        """Open a session for reading only (no lock on SQLite: WAL lets readers run)."""
        async with self.engine.connect() as conn:
            await conn.execution_options(helpline_read_only=True)
            async with self.sessionmaker(bind=conn) as session:
                yield session

    async def dispose(self) -> None:
        """Close every pooled connection."""
        if self._inbox is not None:
            await self._inbox.close()
            self._inbox = None
        await self.engine.dispose()


class _WriteLock:
    """SQLite's one writer, in-process: ``first`` holders jump the queue of the others."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._first_waiting = 0
        self._no_first_waiting = asyncio.Event()
        self._no_first_waiting.set()

    @contextlib.asynccontextmanager
    async def hold(self, *, first: bool) -> AsyncIterator[None]:
        """Hold the lock; ``first`` goes ahead of every holder that is not ``first``."""
        if first:
            self._first_waiting += 1
            self._no_first_waiting.clear()
            try:
                await self._lock.acquire()
            finally:
                self._first_waiting -= 1
                if not self._first_waiting:
                    self._no_first_waiting.set()
        else:
            while True:
                await self._no_first_waiting.wait()
                await self._lock.acquire()
                if not self._first_waiting:
                    break
                self._lock.release()  # someone who goes first arrived meanwhile
        try:
            yield
        finally:
            self._lock.release()


def _pragmas(schema: str) -> tuple[str, ...]:
    """Return the settings of one file ("main", or "inbox" where it is attached)."""
    return (
        f"PRAGMA {schema}.journal_mode=WAL",
        f"PRAGMA {schema}.synchronous=NORMAL",
        # Per connection: never checkpoint inside a commit on the loop (Checkpointer does).
        "PRAGMA wal_autocheckpoint=0",
        f"PRAGMA {schema}.journal_size_limit={JOURNAL_SIZE_LIMIT}",
    )


# Takes the main file's write lock and no other: a write statement that changes nothing.
# (BEGIN IMMEDIATE would lock every attached file, the inbox's too.)
_LOCK_MAIN_ONLY = "UPDATE alembic_version SET version_num = version_num WHERE 0"


def inbox_path(database_path: str) -> str:
    """Return the inbox's SQLite file beside the main one (``helpline.db``: ``helpline-inbox.db``).

    Webhooks commit to the inbox while the worker files texts into the main file: two
    files, two write locks, so neither waits for the other.
    """
    path = Path(database_path)
    return str(path.with_name(f"{path.stem}-inbox{path.suffix}"))


def attach_inbox(sync_engine: Any, path: str) -> None:
    """Attach the inbox file to every connection of ``sync_engine`` (SQLite) as ``inbox``.

    The inbox table lives there alone, so SQL that names it without a schema finds it.
    """
    @event.listens_for(sync_engine, "connect")
    def _attach(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("ATTACH DATABASE ? AS inbox", (path,))
        for pragma in _pragmas("inbox"):
            cursor.execute(pragma)
        cursor.close()


def _configure_sqlite(engine: AsyncEngine, inbox: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")  # per connection
        for pragma in _pragmas("main"):
            cursor.execute(pragma)
        cursor.close()

    attach_inbox(engine.sync_engine, inbox)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front so they wait (busy timeout) instead of
        # failing when they later upgrade a read lock; readers never block anyone. Locks
        # are always taken main file first, then the inbox's: no two writers wait on
        # each other (the webhooks' commit takes the inbox's alone).
        options = conn.get_execution_options()
        if options.get("helpline_read_only", False):
            conn.exec_driver_sql("BEGIN")
        elif options.get("helpline_main_only", False):
            conn.exec_driver_sql("BEGIN")
            conn.exec_driver_sql(_LOCK_MAIN_ONLY)
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def _inline_sqlite(url: str) -> Callable[[], Awaitable[InlineConnection]]:
    """Return the connection factory that runs SQLite on the event loop's thread."""
    path = make_url(url).database or ":memory:"
    if path == ":memory:":
        raise DatabaseConfigError("an in-memory SQLite database cannot be shared; use a file")

    def connect() -> Awaitable[InlineConnection]:
        return InlineConnection.connect(path, busy_timeout=SQLITE_BUSY_TIMEOUT_SECONDS)

    return connect


class DriverStatement:
    """A Core statement compiled once, to run on the driver connection itself.

    Parameters are put in the statement's order and converted by the columns' own types,
    as SQLAlchemy would (``Database.inbox_transaction``).
    """

    def __init__(self, statement: Any, dialect: Any, columns: Sequence[str]) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(columns))
        self.sql = str(compiled)
        self._names = compiled.positiontup or []
        self._processors = [
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in self._names]

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """Return ``values`` in the statement's order, each as the driver wants it."""
        return tuple(values[name] if process is None else process(values[name])
                     for name, process in zip(self._names, self._processors, strict=True))


async def execute_unflushed(session: AsyncSession, statement: Any, params: Any = None) -> Any:
    """Run a Core statement that reads no ORM state, without flushing the session first.

    SQLAlchemy flushes pending ORM changes before every statement, Core ones included.
    The rows written this way (messages, outbox, timers) depend only on rows already
    flushed, so a conversation's changes reach the database once, at commit, instead of
    once before each of them.
    """
    with session.no_autoflush:
        return await session.execute(statement, params)


def insert_for(session: AsyncSession, table: Any) -> Any:
    """Return an INSERT for ``table`` in the session's dialect (with ``on_conflict_do_nothing``)."""
    return insert_in(session.bind.dialect.name, table)


def insert_in(dialect: str, table: Any) -> Any:
    """Return an INSERT for ``table`` in ``dialect`` ("postgresql" or "sqlite")."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)
