"""Key rotation: re-encrypt stored values under the newest key; re-key pseudonyms.

Both walks go through each table in primary-key order (keyset pagination), read a batch
without holding a write lock, do the crypto, then write the batch in one short
transaction. Every write is a compare-and-set on the value that was read, so a value the
running service changed meanwhile (a new reply address, a purge) is never overwritten.
An interrupted run loses at most the batch in flight; running again finishes the job and
rewrites nothing that is already current (a current value is recognised and skipped).

A value that no configured key opens is reported as (table, column, id) and left as it is.

Pseudonyms: a contact found under an older key version is moved to the newest version by
recomputing the HMAC from its encrypted reply address. A contact whose address retention
has purged cannot be recomputed and keeps its old pseudonym: while the old key stays
configured the contact is still recognised (and moved) on its next message; once the old
key is removed, that link is cut. This is by design: it is how a link expires.

Nothing here logs or returns a number or a text: only table and column names, ids, counts.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Row, Select, Table, or_, select, update

from helpline.conversations.models import Contact
from helpline.db import Base, Database
from helpline.privacy.addresses import AddressError, parse_address
from helpline.privacy.crypto import Cipher, DecryptionError
from helpline.privacy.pseudonym import Pseudonymizer
from helpline.privacy.retention import CUT_VERSION  # a cut link: no key to re-key it
from helpline.users.models import User

log = logging.getLogger(__name__)

ENCRYPTED_SUFFIX = "_enc"  # every column holding Fernet ciphertext is named *_enc
DEFAULT_BATCH = 500


@dataclass(frozen=True)
class Unreadable:
    """A stored value that no configured key opens (or that is not a usable address)."""

    table: str
    column: str
    id: int

    def __str__(self) -> str:
        """Return ``table.column id N``."""
        return f"{self.table}.{self.column} id {self.id}"


@dataclass
class ColumnReport:
    """What re-encryption did to one column; running totals while it runs."""

    table: str
    column: str
    scanned: int = 0  # non-empty values looked at
    current: int = 0  # already under the newest key: left alone
    rotated: int = 0  # re-encrypted under the newest key
    changed: int = 0  # changed by the service between read and write: left to the service
    unreadable: list[Unreadable] = field(default_factory=list)

    @property
    def name(self) -> str:
        """Return ``table.column``."""
        return f"{self.table}.{self.column}"


@dataclass
class RotationReport:
    """What re-encryption did, column by column."""

    columns: list[ColumnReport] = field(default_factory=list)

    @property
    def unreadable(self) -> list[Unreadable]:
        """Return every value that could not be decrypted."""
        return [u for c in self.columns for u in c.unreadable]

    @property
    def rotated(self) -> int:
        """Return how many values were re-encrypted."""
        return sum(c.rotated for c in self.columns)


@dataclass
class PseudonymReport:
    """What re-keying did to one table's pseudonyms; running totals while it runs."""

    table: str
    column: str
    version: int  # the newest key version, which rows are moved to
    scanned: int = 0  # rows under another version
    moved: int = 0  # now under the newest version
    kept_old: int = 0  # source value purged: keeps its old pseudonym (cut with the old key)
    duplicates: int = 0  # the new pseudonym belongs to another row already: left alone
    changed: int = 0  # changed by the service between read and write: left to the service
    unreadable: list[Unreadable] = field(default_factory=list)

    @property
    def name(self) -> str:
        """Return ``table.column``."""
        return f"{self.table}.{self.column}"


ColumnProgress = Callable[[ColumnReport], None]
PseudonymProgress = Callable[[PseudonymReport], None]


def encrypted_columns(metadata: Any = None) -> list[Column[Any]]:
    """Return every ``*_enc`` column of every table, in table order.

    Found by name, so a table added later is rotated without anyone remembering to list it.
    """
    if metadata is None:
        import helpline.models  # noqa: F401  (every table registered on Base.metadata)

        metadata = Base.metadata
    found = []
    for table in metadata.sorted_tables:
        for column in table.columns:
            if column.name.endswith(ENCRYPTED_SUFFIX):
                _single_key(table)
                found.append(column)
    return found


async def rotate_encryption(
    db: Database,
    cipher: Cipher,
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: ColumnProgress | None = None,
    columns: list[Column[Any]] | None = None,
) -> RotationReport:
    """Re-encrypt every stored value under ``cipher``'s newest key, batch by batch."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    report = RotationReport()
    for column in encrypted_columns() if columns is None else columns:
        col_report = ColumnReport(table=column.table.name, column=column.name)
        report.columns.append(col_report)
        await _rotate_column(db, cipher, column, col_report, batch_size, progress)
        log.info("key rotation %s: %d checked, %d re-encrypted, %d current, %d unreadable",
                 col_report.name, col_report.scanned, col_report.rotated, col_report.current,
                 len(col_report.unreadable))
    return report


async def _rotate_column(db: Database, cipher: Cipher, column: Column[Any],
                         report: ColumnReport, batch_size: int,
                         progress: ColumnProgress | None) -> None:
    table = column.table
    pk = _single_key(table)
    query = select(pk, column).where(column.is_not(None))
    async for rows in _batches(db, query, pk, batch_size):
        writes: list[tuple[int, str, str]] = []
        for row_id, token in rows:
            report.scanned += 1
            try:
                if _is_current(cipher, token):
                    report.current += 1
                else:
                    writes.append((row_id, token, _rotate(cipher, token)))
            except DecryptionError:
                report.unreadable.append(Unreadable(table.name, column.name, row_id))
                log.warning("key rotation: %s.%s id %d opens with no configured key; "
                            "left unchanged", table.name, column.name, row_id)
        if writes:
            async with db.transaction() as session:
                for row_id, old, new in writes:
                    result = await session.execute(
                        update(table).where(pk == row_id, column == old)
                        .values({column.name: new}))
                    if result.rowcount:
                        report.rotated += 1
                    else:
                        report.changed += 1
        if progress is not None:
            progress(report)


def _is_current(cipher: Cipher, token: str) -> bool:
    try:
        return cipher.is_current(token)
    except UnicodeError as exc:  # not ASCII: not a Fernet token at all
        raise DecryptionError("not a Fernet token") from exc


def _rotate(cipher: Cipher, token: str) -> str:
    try:
        return cipher.rotate(token)
    except UnicodeError as exc:
        raise DecryptionError("not a Fernet token") from exc


@dataclass(frozen=True)
class _PseudonymTarget:
    digest: Column[Any]
    version: Column[Any]
    source: Column[Any]  # the encrypted value the pseudonym is computed from


def _pseudonym_targets() -> list[_PseudonymTarget]:
    # Contacts: the reply address ("+44..." or "whatsapp:+44..."); users: their page phone.
    contacts, users = Contact.__table__.c, User.__table__.c
    return [
        _PseudonymTarget(contacts.pseudonym, contacts.pseudonym_version, contacts.address_enc),
        _PseudonymTarget(users.phone_pseudonym, users.phone_pseudonym_version, users.phone_enc),
    ]


async def rotate_pseudonyms(
    db: Database,
    cipher: Cipher,
    pseudonyms: Pseudonymizer,
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: PseudonymProgress | None = None,
) -> list[PseudonymReport]:
    """Move every contact and user pseudonym to the newest key version where possible."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    reports = []
    for target in _pseudonym_targets():
        report = PseudonymReport(table=target.digest.table.name, column=target.digest.name,
                                 version=pseudonyms.current_version)
        reports.append(report)
        await _rotate_pseudonym_table(db, cipher, pseudonyms, target, report, batch_size,
                                      progress)
        log.info("pseudonym rotation %s: %d moved to version %d, %d kept (source purged), "
                 "%d duplicates, %d unreadable", report.name, report.moved, report.version,
                 report.kept_old, report.duplicates, len(report.unreadable))
    return reports


async def _rotate_pseudonym_table(db: Database, cipher: Cipher, pseudonyms: Pseudonymizer,
                                  target: _PseudonymTarget, report: PseudonymReport,
                                  batch_size: int, progress: PseudonymProgress | None) -> None:
    digest, version, source = target.digest, target.version, target.source
    table = digest.table
    pk = _single_key(table)
    current = pseudonyms.current_version
    query = select(pk, digest, source).where(
        digest.is_not(None), version != CUT_VERSION, or_(version.is_(None), version != current))
    async for rows in _batches(db, query, pk, batch_size):
        moves: list[tuple[int, str, str]] = []
        for row_id, old_digest, token in rows:
            report.scanned += 1
            if token is None:
                report.kept_old += 1
                continue
            try:
                e164 = parse_address(cipher.decrypt(token)).e164  # drops "whatsapp:"
            except (DecryptionError, AddressError, UnicodeError):
                report.unreadable.append(Unreadable(report.table, source.name, row_id))
                log.warning("pseudonym rotation: %s.%s id %d cannot be read; left unchanged",
                            report.table, source.name, row_id)
                continue
            moves.append((row_id, old_digest, pseudonyms.pseudonym(e164).digest))
        if moves:
            async with db.transaction() as session:
                taken = set((await session.execute(
                    select(digest).where(digest.in_([new for _, _, new in moves])))).scalars())
                for row_id, old_digest, new_digest in moves:
                    if new_digest in taken and new_digest != old_digest:
                        # The same person under the new key already: leave both for a human.
                        report.duplicates += 1
                        continue
                    result = await session.execute(
                        update(table).where(pk == row_id, digest == old_digest)
                        .values({digest.name: new_digest, version.name: current}))
                    if result.rowcount:
                        report.moved += 1
                        taken.add(new_digest)
                    else:
                        report.changed += 1
        if progress is not None:
            progress(report)


async def _batches(db: Database, query: Select[Any], pk: Column[Any],
                   batch_size: int) -> AsyncIterator[list[Row[Any]]]:
    """Yield ``query``'s rows in primary-key order, a batch at a time (keyset pagination).

    Each batch is read in its own short read transaction, so the service keeps running.
    """
    last_id: int | None = None
    while True:
        page = query.order_by(pk).limit(batch_size)
        if last_id is not None:
            page = page.where(pk > last_id)
        async with db.reader() as session:
            rows = list((await session.execute(page)).all())
        if not rows:
            return
        last_id = rows[-1][0]
        yield rows
        if len(rows) < batch_size:
            return


def _single_key(table: Table) -> Column[Any]:
    keys = list(table.primary_key.columns)
    if len(keys) != 1:
        raise ValueError(f"{table.name}: key rotation needs a single-column primary key")
    return keys[0]
