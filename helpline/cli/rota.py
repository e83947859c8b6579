"""``helpline rota show|check``: who is on call, and where the rota has nobody."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta
from pathlib import Path

from helpline.clock import SystemClock
from helpline.routing.rota import Gap, Rota, RotaError, to_utc

DEFAULT_ROTA = Path("config/rota.yaml")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``rota`` command group with ``show`` and ``check``."""
    parser = subparsers.add_parser("rota", help="see who is on call and check the rota")
    _add_rota_file(parser, default=DEFAULT_ROTA)
    commands = parser.add_subparsers(dest="rota_command", metavar="COMMAND")
    parser.set_defaults(func=lambda _args: parser.print_help() or 2)

    show = commands.add_parser(
        "show", help="print who is on call per tier",
        description="Print who is on call in each tier, now or at --at.")
    show.add_argument("--at", metavar="TIME", type=_moment,
                      help="ISO 8601 time; without an offset it is the rota's local time "
                           "(default: now)")
    _add_rota_file(show, default=argparse.SUPPRESS)
    show.set_defaults(func=run_show)

    check = commands.add_parser(
        "check", help="list every time a tier has nobody on call",
        description="List every interval in which a tier has nobody on call. Exit 1 if "
                    "the first tier ever has nobody; gaps in later tiers are warnings.")
    check.add_argument("--days", metavar="N", type=_positive_days, default=14,
                       help="how many days ahead to check (default: 14)")
    check.add_argument("--from", dest="start", metavar="TIME", type=_moment,
                       help="start of the check, like --at of show (default: now)")
    _add_rota_file(check, default=argparse.SUPPRESS)
    check.set_defaults(func=run_check)


def _add_rota_file(parser: argparse.ArgumentParser, *, default: object) -> None:
    # On the group and on each command, so "rota --rota F show" and "rota show --rota F"
    # both work; the commands' SUPPRESS default leaves the group's value alone.
    parser.add_argument("--rota", metavar="FILE", type=Path, default=default,
                        help=f"rota file (default: {DEFAULT_ROTA})")


def _moment(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time like 2026-03-29T01:30") from None


def _positive_days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        days = 0
    if days < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days (1 or more)")
    return days


def _load(args: argparse.Namespace) -> Rota | None:
    try:
        return Rota.load(args.rota)
    except RotaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def _resolve(rota: Rota, moment: datetime | None) -> tuple[datetime, str | None]:
    """Return the instant meant, and a note if a naive wall time was skipped or repeated."""
    if moment is None:
        return SystemClock().now(), None
    instant = to_utc(moment, rota.timezone)
    if moment.tzinfo is not None:
        return instant, None
    zone = rota.timezone
    wall = moment.strftime("%H:%M")
    if instant.astimezone(zone).replace(tzinfo=None) != moment:
        return instant, f"{wall} does not exist in {zone.key} that day (clocks went forward)"
    if moment.replace(tzinfo=zone, fold=1).astimezone(instant.tzinfo) != instant:
        return instant, f"{wall} happens twice in {zone.key} that day; this is the first"
    return instant, None


def _local(rota: Rota, moment: datetime) -> str:
    return moment.astimezone(rota.timezone).strftime("%Y-%m-%d %H:%M %Z")


def _duration(length: timedelta) -> str:
    minutes = int(length.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days}d"] if days else []
    if hours:
        parts.append(f"{hours}h")
    if minutes or not parts:
        parts.append(f"{minutes}m")
    return " ".join(parts)


def run_show(args: argparse.Namespace) -> int:
    """Print who is on call per tier at the time asked; return 0 (1 if the file is wrong)."""
    rota = _load(args)
    if rota is None:
        return 1
    at, note = _resolve(rota, args.at)
    print(f"On call at {_local(rota, at)}:")
    if note:
        print(f"  (note: {note})")
    width = max(len(tier) for tier in rota.tiers)
    for entry in rota.on_call(at):
        print(f"  {entry.tier:<{width}}  {', '.join(entry.logins) or '(nobody)'}")
    return 0


def describe_gap(rota: Rota, gap: Gap) -> str:
    """Return one line for a gap: tier, local start – end, and how long."""
    return (f"{gap.tier}: nobody on call {_local(rota, gap.start)} – {_local(rota, gap.end)}"
            f" ({_duration(gap.duration)})")


def run_check(args: argparse.Namespace) -> int:
    """Print every gap; return 1 if the first tier has one (or the file is wrong), else 0."""
    rota = _load(args)
    if rota is None:
        return 1
    start, _note = _resolve(rota, args.start)
    # N days on the local calendar: a week from Monday 06:00 ends on Monday 06:00 even
    # when the clocks change in between.
    local_start = start.astimezone(rota.timezone).replace(tzinfo=None)
    end = to_utc(local_start + timedelta(days=args.days), rota.timezone)
    gaps = rota.gaps(start, end)
    first = rota.tiers[0]
    for gap in gaps:
        print(f"{'error' if gap.tier == first else 'warning'}: {describe_gap(rota, gap)}")
    urgent = sum(gap.tier == first for gap in gaps)
    span = f"{_local(rota, start)} – {_local(rota, end)}"
    if urgent:
        print(f"{args.rota}: {first} has nobody on call {urgent} time(s) in {span}")
        return 1
    later = len(gaps)
    print(f"{args.rota}: {first} covered throughout {span}"
          + (f"; {later} gap(s) in later tiers" if later else ""))
    return 0
