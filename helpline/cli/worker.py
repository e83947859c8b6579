"""``helpline worker``: run the background workers without serving HTTP (for scaling out)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from aiohttp import web

from helpline.app import SchemaNotReady, create_app, freeze_after_startup
from helpline.db import DatabaseConfigError
from helpline.keys import KeyConfigError
from helpline.logs import setup_logging
from helpline.settings import load_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``worker`` command."""
    parser = subparsers.add_parser(
        "worker", help="process the inbox, send the outbox and fire timers (no HTTP)",
        description="Run beside `helpline serve --web-only`: webhook processes then only "
                    "store what arrives, and this process does the rest. Any number may run.")
    parser.set_defaults(func=work)


def work(args: argparse.Namespace) -> int:
    """Run the workers until SIGINT or SIGTERM."""
    settings = load_settings(args.config)
    setup_logging(settings.log_level)
    try:
        app = create_app(settings, run_workers=True)
    except (KeyConfigError, DatabaseConfigError) as exc:
        print(f"helpline: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_run(app))
    except SchemaNotReady as exc:
        print(f"helpline: {exc}", file=sys.stderr)
        return 2
    return 0


async def _run(app: web.Application) -> None:
    runner = web.AppRunner(app)
    await runner.setup()  # starts the workers through the app's cleanup contexts
    await freeze_after_startup(app)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
