"""Alembic environment: the same migrations for SQLite and PostgreSQL, run asynchronously."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from helpline.db import attach_inbox, inbox_path
from helpline.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection | None = None) -> None:
    url = config.get_main_option("sqlalchemy.url")
    sqlite = (url or "").startswith("sqlite")
    context.configure(
        connection=connection,
        url=None if connection is not None else url,
        target_metadata=target_metadata,
        render_as_batch=sqlite,  # SQLite alters tables by copying them
        compare_type=True,
    )


def _run_sync(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    url = make_url(config.get_main_option("sqlalchemy.url") or "")
    engine = create_async_engine(url)
    if url.get_backend_name() == "sqlite":  # the inbox's file, as the service sees it
        attach_inbox(engine.sync_engine, inbox_path(url.database or ""))
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    _configure()
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
