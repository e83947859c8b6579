"""``helpline flows check [PATH...]``: check flow files before they go live."""

from __future__ import annotations

import argparse
from pathlib import Path

from helpline.triage.flows.check import Problem
from helpline.triage.flows.loader import ARCHIVE, display_name, read_flow
from helpline.triage.flows.models import Flow

DEFAULT_DIRECTORY = Path("flows")
# The versions the service loads: the current files, and older ones kept for open conversations.
DEFAULT_PATHS = [DEFAULT_DIRECTORY, DEFAULT_DIRECTORY / ARCHIVE]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``flows`` command group and its ``check`` command."""
    parser = subparsers.add_parser("flows", help="work with triage flow files")
    commands = parser.add_subparsers(dest="flows_command", metavar="COMMAND")
    parser.set_defaults(func=lambda _args: parser.print_help() or 2)
    check = commands.add_parser(
        "check",
        help="check flow files for mistakes",
        description="Check flow files: schema, links between nodes, fallbacks, "
        "translations, regular expressions and timeouts. Exit 0 when clean.",
    )
    check.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        type=Path,
        help="flow files or directories (default: flows/*.yaml and flows/archive/*.yaml)",
    )
    check.set_defaults(func=run_check)


def _files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths or DEFAULT_PATHS:
        files.extend(sorted(path.glob("*.yaml")) if path.is_dir() else [path])
    return files


def check_files(paths: list[Path]) -> tuple[list[Flow], list[Problem]]:
    """Check every flow file in ``paths``, including versions clashing between files."""
    flows: list[Flow] = []
    problems: list[Problem] = []
    seen: dict[tuple[str, str], str] = {}
    for path in _files(paths):
        flow, found = read_flow(path)
        problems.extend(found)
        if flow is None:
            continue
        key = (flow.id, str(flow.version))
        if key in seen:
            problems.append(
                Problem(
                    display_name(path),
                    f'flow "{flow.id}" version {flow.version} is also in {seen[key]}: '
                    "give each file its own version",
                    None,
                    "version",
                )
            )
        seen[key] = display_name(path)
        flows.append(flow)
    return flows, problems


def run_check(args: argparse.Namespace) -> int:
    """Print one line per problem; return 0 when every flow is clean, 1 otherwise."""
    files = _files(args.paths)
    if not files:
        print("no flow files found")
        return 1
    flows, problems = check_files(args.paths)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {len(files)} flow file(s)")
        return 1
    print(f"{len(flows)} flows OK")
    for flow in flows:
        if flow.review:
            waiting = ", ".join(sorted(flow.review))
            print(f"note: {flow.id} v{flow.version}: {waiting} texts await native-speaker review")
    return 0
