"""``helpline triage score``: assess messages read from stdin with the risk lexicon."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from helpline.triage.lexicon import LexiconError, RiskLexicon
from helpline.triage.priority import Priority

_PACKAGED_LEXICON = Path(__file__).resolve().parents[2] / "config" / "lexicon"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``triage`` command group and its ``score`` command."""
    triage = subparsers.add_parser("triage", help="safety triage tools")
    commands = triage.add_subparsers(dest="triage_command", metavar="COMMAND")
    score = commands.add_parser(
        "score",
        help="print the risk priority of each stdin line as JSON (never the text)",
    )
    score.add_argument(
        "--lexicon",
        metavar="DIR",
        type=Path,
        help="lexicon directory (default: ./config/lexicon, else the one beside the package)",
    )
    score.set_defaults(func=score_command)
    triage.set_defaults(func=lambda args: _usage(triage))


def score_command(args: argparse.Namespace) -> int:
    """Assess one message per stdin line and print one JSON object per line."""
    directory = args.lexicon or _default_lexicon_dir()
    try:
        lexicon = RiskLexicon.load(directory)
    except LexiconError as error:
        print(f"helpline triage score: {error}", file=sys.stderr)
        return 1
    for line in sys.stdin:
        assessment = lexicon.assess(line.rstrip("\n"))
        result = {
            "priority": str(assessment.priority or Priority.STANDARD),
            "categories": list(assessment.categories),
        }
        print(json.dumps(result), flush=True)
    return 0


def _default_lexicon_dir() -> Path:
    """Return ``config/lexicon`` under the working directory, else the repository's."""
    local = Path("config") / "lexicon"
    return local if local.is_dir() else _PACKAGED_LEXICON


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2
