"""The ``helpline`` command line: one module per command group, each with ``register``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module below exposes ``register(subparsers)`` and sets ``func`` on its parsers.
COMMAND_MODULES: tuple[str, ...] = (
    "serve", "worker", "db", "users", "rota", "flows", "simulate", "triage", "privacy", "keys",
    "inbox",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every command group registered."""
    parser = argparse.ArgumentParser(
        prog="helpline",
        description="Backend for a confidential chat-and-SMS support line.",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="settings file (default: $HELPLINE_CONFIG or config/helpline.toml)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"helpline.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command named in ``argv`` and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from helpline.cli.common import CommandError

    try:
        return int(args.func(args) or 0)
    except CommandError as exc:
        print(f"helpline: {exc}", file=sys.stderr)
        return exc.status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
