"""``helpline serve``: run the web service."""

from __future__ import annotations

import argparse
import logging
import sys

from aiohttp import web

from helpline.app import SchemaNotReady, create_app, freeze_after_startup
from helpline.db import DatabaseConfigError
from helpline.keys import KeyConfigError
from helpline.logs import setup_logging
from helpline.settings import Settings, load_settings

log = logging.getLogger(__name__)

# Labelled fields: bare runs of numbers ("200 193 0.0082") look like a phone number to the
# log redaction and would be masked.
ACCESS_LOG_FORMAT = '%a "%r" status=%s bytes=%b seconds=%Tf'


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` command."""
    parser = subparsers.add_parser("serve", help="serve the webhooks, chat and console")
    parser.add_argument("--host", help="address to listen on (default from settings)")
    parser.add_argument("--port", type=int, help="port to listen on (default from settings)")
    parser.add_argument("--web-only", action="store_true",
                        help="answer HTTP only; run `helpline worker` processes for the rest")
    parser.set_defaults(func=serve)


def serve(args: argparse.Namespace) -> int:
    """Run the service until interrupted."""
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v}
    settings = load_settings(args.config, **overrides)
    setup_logging(settings.log_level)
    try:
        app = serving_app(settings, web_only=args.web_only)
    except (KeyConfigError, DatabaseConfigError) as exc:
        print(f"helpline: {exc}", file=sys.stderr)
        return 2
    try:
        web.run_app(app, host=settings.host, port=settings.port, print=None,
                    access_log_format=ACCESS_LOG_FORMAT)
    except SchemaNotReady as exc:
        print(f"helpline: {exc}", file=sys.stderr)
        return 2
    return 0


def serving_app(settings: Settings, *, web_only: bool = False) -> web.Application:
    """Build the app ``serve`` runs: the service, and a long-running process's start-up."""
    app = create_app(settings, run_workers=not web_only)
    app.on_startup.append(freeze_after_startup)  # runs after the app's own start-up
    return app
