"""``helpline keys generate|rotate``: new keys, and re-encryption under the newest one."""

from __future__ import annotations

import argparse
import asyncio
import sys

from helpline.db import Database, DatabaseConfigError
from helpline.keys import (
    DEV_KEY_FILE,
    KeyConfigError,
    KeyRing,
    generate_encryption_key,
    generate_pseudonym_key,
    load_keys,
)
from helpline.privacy.rotation import (
    DEFAULT_BATCH,
    ColumnReport,
    PseudonymReport,
    RotationReport,
    rotate_encryption,
    rotate_pseudonyms,
)
from helpline.settings import Settings, load_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``keys`` commands."""
    parser = subparsers.add_parser("keys", help="encryption and pseudonym keys")
    commands = parser.add_subparsers(dest="keys_command", metavar="COMMAND", required=True)
    gen = commands.add_parser("generate", help="print a new encryption key and pseudonym key")
    gen.add_argument("--pseudonym-version", type=_positive, metavar="N",
                     help="version of the new pseudonym key (default: newest in force + 1)")
    gen.set_defaults(func=generate)
    rot = commands.add_parser(
        "rotate", help="re-encrypt every value under the newest key; re-key pseudonyms")
    rot.add_argument("--batch", type=_positive, default=DEFAULT_BATCH, metavar="N",
                     help=f"rows per transaction (default {DEFAULT_BATCH})")
    rot.set_defaults(func=rotate)


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def generate(args: argparse.Namespace) -> int:
    """Print the lines to add to the environment: new keys go in front (newest first)."""
    version = args.pseudonym_version
    if version is None:
        settings = load_settings(args.config)
        try:
            version = _next_pseudonym_version(settings)
        except KeyConfigError as exc:
            print(f"helpline: {exc}", file=sys.stderr)
            return 2
    print("# Put each new key FIRST in its variable, before the keys in force, e.g.")
    print("#   HELPLINE_ENCRYPTION_KEYS=<new>,<old>   HELPLINE_PSEUDONYM_KEYS=<new>,<old>")
    print("# The first encryption key encrypts; the highest pseudonym version is used for")
    print("# new pseudonyms. Restart, run `helpline keys rotate`, and only then remove an")
    print("# old key.")
    print(f"HELPLINE_ENCRYPTION_KEYS={generate_encryption_key()}")
    print(f"HELPLINE_PSEUDONYM_KEYS={generate_pseudonym_key(version)}")
    return 0


def _next_pseudonym_version(settings: Settings) -> int:
    """Return one more than the newest pseudonym key in force (1 if there is none yet)."""
    if not settings.pseudonym_keys and not (settings.var_dir / DEV_KEY_FILE).is_file():
        return 1
    return load_keys(settings).pseudonyms.current_version + 1


def rotate(args: argparse.Namespace) -> int:
    """Rotate; exit 1 and list them if some values cannot be decrypted with any key."""
    settings = load_settings(args.config)
    try:
        keys = load_keys(settings)
        db = Database(settings.effective_database_url)
    except (KeyConfigError, DatabaseConfigError) as exc:
        print(f"helpline: {exc}", file=sys.stderr)
        return 2

    async def run() -> tuple[RotationReport, list[PseudonymReport]]:
        try:
            return await _rotate_all(db, keys, batch_size=args.batch)
        finally:
            await db.dispose()

    encryption, pseudonyms = asyncio.run(run())
    for line in summary(encryption, pseudonyms):
        print(line)
    unreadable = encryption.unreadable + [u for p in pseudonyms for u in p.unreadable]
    for item in unreadable:
        print(f"helpline: cannot read {item} with any configured key; left unchanged",
              file=sys.stderr)
    if unreadable:
        print(f"helpline: {len(unreadable)} value(s) could not be rotated; restore the key "
              "that wrote them, or erase them, then run again", file=sys.stderr)
        return 1
    return 0


async def _rotate_all(db: Database, keys: KeyRing, *,
                      batch_size: int) -> tuple[RotationReport, list[PseudonymReport]]:
    encryption = await rotate_encryption(db, keys.cipher, batch_size=batch_size,
                                         progress=_column_progress)
    pseudonyms = await rotate_pseudonyms(db, keys.cipher, keys.pseudonyms,
                                         batch_size=batch_size, progress=_pseudonym_progress)
    return encryption, pseudonyms


def _column_progress(report: ColumnReport) -> None:
    print(f"keys rotate: {report.name}: {report.scanned} checked, {report.rotated} "
          f"re-encrypted", file=sys.stderr, flush=True)


def _pseudonym_progress(report: PseudonymReport) -> None:
    print(f"keys rotate: {report.name}: {report.scanned} checked, {report.moved} moved to "
          f"version {report.version}", file=sys.stderr, flush=True)


def summary(encryption: RotationReport, pseudonyms: list[PseudonymReport]) -> list[str]:
    """Return the summary lines: counts per column, never a value."""
    lines = []
    for c in encryption.columns:
        line = (f"{c.name}: {c.scanned} values, {c.rotated} re-encrypted, "
                f"{c.current} already current, {len(c.unreadable)} unreadable")
        if c.changed:
            line += f", {c.changed} changed by the service meanwhile (run again to check)"
        lines.append(line)
    for p in pseudonyms:
        line = (f"{p.name}: {p.moved} moved to version {p.version}, "
                f"{len(p.unreadable)} unreadable")
        if p.kept_old:
            line += (f", {p.kept_old} kept on an older version (number purged; their link "
                     "is cut when that key is removed)")
        if p.duplicates:
            line += f", {p.duplicates} left alone (new pseudonym already in use by another row)"
        if p.changed:
            line += f", {p.changed} changed by the service meanwhile (run again to check)"
        lines.append(line)
    return lines
