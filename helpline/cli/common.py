"""What several commands share: settings with keys, a database for the command's run, errors."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator

from helpline.db import Database
from helpline.keys import KeyConfigError, KeyRing, load_keys
from helpline.settings import Settings, load_settings


class CommandError(Exception):
    """Stop a command: ``main`` prints the message to stderr and exits with ``status``."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def settings_and_keys(args: argparse.Namespace) -> tuple[Settings, KeyRing]:
    """Return the settings and the keys in force, or stop with status 2 naming the problem."""
    settings = load_settings(args.config)
    try:
        return settings, load_keys(settings)
    except KeyConfigError as exc:
        raise CommandError(str(exc), status=2) from None


@contextlib.asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[Database]:
    """Open the configured database for the length of the block."""
    db = Database(settings.effective_database_url)
    try:
        yield db
    finally:
        await db.dispose()
