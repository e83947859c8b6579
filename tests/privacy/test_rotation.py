"""Key rotation: every value readable under the new key alone; pseudonyms re-keyed."""

from __future__ import annotations

import asyncio
import base64
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from helpline.cli import main
from helpline.conversations.contacts import find_contact
from helpline.conversations.models import Contact, Conversation, Message
from helpline.db import Database
from helpline.inbox.models import InboxMessage
from helpline.keys import generate_encryption_key, load_keys
from helpline.outbox.models import OutboxMessage
from helpline.privacy.crypto import Cipher
from helpline.privacy.pseudonym import Pseudonymizer
from helpline.privacy.rotation import (
    ColumnReport,
    Unreadable,
    encrypted_columns,
    rotate_encryption,
    rotate_pseudonyms,
)
from helpline.settings import Settings
from helpline.users.models import User
from helpline.users.service import find_by_phone

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
NUMBER = "+447700900123"  # UK drama range
VOLUNTEER_PHONE = "+447700900201"
BODY = "i am scared to go home tonight"

OLD_KEY, NEW_KEY = generate_encryption_key().encode(), generate_encryption_key().encode()
OLD_PSEUDONYM_KEY = b"o" * 32
NEW_PSEUDONYM_KEY = b"n" * 32

# The encrypted columns the contact log has: rotation must find each of them.
EXPECTED_COLUMNS = {
    "contacts.address_enc", "messages.body_enc", "outbox.to_enc", "outbox.body_enc",
    "conversations.answers_enc", "users.phone_enc", "inbox.address_enc", "inbox.body_enc",
}


class CountingCipher(Cipher):
    """A Cipher that counts how many values it re-encrypts."""

    rotations = 0

    def rotate(self, token: str) -> str:
        """Count, then rotate."""
        self.rotations += 1
        return super().rotate(token)


class Interrupted(Exception):
    """Raised from a progress callback to stop a rotation after its first batch."""


async def seed(db: Database, cipher: Cipher, pseudonyms: Pseudonymizer, *,
               address: str | None = f"whatsapp:{NUMBER}", messages: int = 1) -> dict[str, Any]:
    """Store a contact, conversation, messages, outbox, inbox and user row under ``cipher``."""
    e164 = NUMBER
    async with db.transaction() as session:
        contact = Contact(pseudonym=pseudonyms.pseudonym(e164).digest,
                          pseudonym_version=pseudonyms.current_version,
                          address_enc=cipher.encrypt(address) if address else None,
                          created_at=NOW, last_seen_at=NOW)
        session.add(contact)
        await session.flush()
        conversation = Conversation(contact_id=contact.id, channel="whatsapp", status="open",
                                    priority="standard", flags=[], results={},
                                    answers_enc=cipher.encrypt('{"age": "fifteen"}'),
                                    created_at=NOW, updated_at=NOW)
        session.add(conversation)
        await session.flush()
        session.add_all(
            Message(conversation_id=conversation.id, direction="in", author="contact",
                    body_enc=cipher.encrypt(BODY), created_at=NOW)
            for _ in range(messages))
        session.add(OutboxMessage(purpose="reply", channel="whatsapp", contact_id=contact.id,
                                  conversation_id=conversation.id,
                                  to_enc=cipher.encrypt(f"whatsapp:{NUMBER}"),
                                  body_enc=cipher.encrypt("we are here"),
                                  next_attempt_at=NOW, created_at=NOW))
        session.add(InboxMessage(provider_sid="SM" + "1" * 32,
                                 address_enc=cipher.encrypt(NUMBER),
                                 body_enc=cipher.encrypt(BODY), received_at=NOW))
        phone = pseudonyms.pseudonym(VOLUNTEER_PHONE)
        session.add(User(login="vol-amira", display_name="Amira", role="volunteer",
                         phone_enc=cipher.encrypt(VOLUNTEER_PHONE),
                         phone_pseudonym=phone.digest, phone_pseudonym_version=phone.version,
                         created_at=NOW))
    return {"contact_id": contact.id, "conversation_id": conversation.id}


async def stored_values(db: Database) -> dict[tuple[str, str, int], str]:
    """Return every non-empty encrypted value by (table, column, id)."""
    values = {}
    async with db.reader() as session:
        for column in encrypted_columns():
            pk = next(iter(column.table.primary_key.columns))
            rows = await session.execute(select(pk, column).where(column.is_not(None)))
            values.update({(column.table.name, column.name, i): v for i, v in rows})
    return values


def test_every_encrypted_column_is_rotated() -> None:
    """Test that rotation walks every encrypted column of the contact log."""
    assert {f"{c.table.name}.{c.name}" for c in encrypted_columns()} >= EXPECTED_COLUMNS


async def test_rotation_leaves_every_value_readable_with_only_the_new_key(db: Database) -> None:
    """Test that after rotation every value decrypts with the new key alone."""
    await seed(db, Cipher([OLD_KEY]), Pseudonymizer({1: OLD_PSEUDONYM_KEY}))
    before = await stored_values(db)

    report = await rotate_encryption(db, Cipher([NEW_KEY, OLD_KEY]), batch_size=2)

    after = await stored_values(db)
    assert after.keys() == before.keys()
    assert {(t, c) for t, c, _ in after} >= {tuple(n.split(".")) for n in EXPECTED_COLUMNS}
    old, new = Cipher([OLD_KEY]), Cipher([NEW_KEY])
    assert all(new.decrypt(after[k]) == old.decrypt(before[k]) for k in before)
    assert report.rotated == len(before)
    assert report.unreadable == []


async def test_values_already_under_the_new_key_are_not_rewritten(db: Database) -> None:
    """Test that values already under the newest key are counted as current and left alone."""
    await seed(db, Cipher([NEW_KEY]), Pseudonymizer({1: OLD_PSEUDONYM_KEY}))
    before = await stored_values(db)
    cipher = CountingCipher([NEW_KEY, OLD_KEY])

    report = await rotate_encryption(db, cipher)

    assert await stored_values(db) == before
    assert cipher.rotations == 0
    assert sum(c.current for c in report.columns) == len(before)


async def test_interrupted_rotation_resumes_without_redoing_work(db: Database) -> None:
    """Test that a rerun after an interruption finishes and re-encrypts nothing twice."""
    await seed(db, Cipher([OLD_KEY]), Pseudonymizer({1: OLD_PSEUDONYM_KEY}), messages=3)
    total = len(await stored_values(db))
    cipher = CountingCipher([NEW_KEY, OLD_KEY])

    def stop(report: ColumnReport) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        await rotate_encryption(db, cipher, batch_size=1, progress=stop)
    assert cipher.rotations == 1
    report = await rotate_encryption(db, cipher, batch_size=1)

    assert cipher.rotations == total
    assert report.rotated == total - 1
    assert sum(c.current for c in report.columns) == 1
    new = Cipher([NEW_KEY])
    assert all(new.is_current(v) for v in (await stored_values(db)).values())


async def test_undecryptable_value_is_reported_and_left_unchanged(db: Database) -> None:
    """Test that a value no key opens is reported by table, column and id, and kept as is."""
    ids = await seed(db, Cipher([OLD_KEY]), Pseudonymizer({1: OLD_PSEUDONYM_KEY}), messages=3)
    stranger = Cipher([generate_encryption_key().encode()]).encrypt(BODY)
    async with db.transaction() as session:
        message = await session.scalar(select(Message).where(
            Message.conversation_id == ids["conversation_id"]).order_by(Message.id.desc()))
        assert message is not None
        message.body_enc = stranger

    report = await rotate_encryption(db, Cipher([NEW_KEY, OLD_KEY]), batch_size=2)

    assert report.unreadable == [Unreadable("messages", "body_enc", message.id)]
    values = await stored_values(db)
    assert values.pop(("messages", "body_enc", message.id)) == stranger
    assert all(Cipher([NEW_KEY]).is_current(v) for v in values.values())


async def test_pseudonym_rotation_keeps_the_conversation_link(db: Database) -> None:
    """Test that a contact moved to the new key version is found by the new key alone."""
    cipher = Cipher([OLD_KEY])
    ids = await seed(db, cipher, Pseudonymizer({1: OLD_PSEUDONYM_KEY}))
    both = Pseudonymizer({1: OLD_PSEUDONYM_KEY, 2: NEW_PSEUDONYM_KEY})

    reports = await rotate_pseudonyms(db, cipher, both)

    new_only = Pseudonymizer({2: NEW_PSEUDONYM_KEY})
    async with db.reader() as session:
        contact = await find_contact(session, pseudonyms=new_only, e164=NUMBER)
        assert contact is not None
        assert (contact.id, contact.pseudonym_version) == (ids["contact_id"], 2)
        conversation = await session.get(Conversation, ids["conversation_id"])
        assert conversation is not None
        assert conversation.contact_id == contact.id
        user = await find_by_phone(session, pseudonyms=new_only, e164=VOLUNTEER_PHONE)
        assert user is not None
        assert user.phone_pseudonym_version == 2
    assert [(r.table, r.moved) for r in reports] == [("contacts", 1), ("users", 1)]


async def test_contact_with_purged_address_keeps_its_old_pseudonym(db: Database) -> None:
    """Test that a contact whose address retention purged is counted and left untouched."""
    old = Pseudonymizer({1: OLD_PSEUDONYM_KEY})
    ids = await seed(db, Cipher([OLD_KEY]), old, address=None)
    both = Pseudonymizer({1: OLD_PSEUDONYM_KEY, 2: NEW_PSEUDONYM_KEY})

    contacts, _users = await rotate_pseudonyms(db, Cipher([OLD_KEY]), both)

    assert (contacts.kept_old, contacts.moved) == (1, 0)
    async with db.reader() as session:
        contact = await session.get(Contact, ids["contact_id"])
    assert contact is not None
    assert (contact.pseudonym, contact.pseudonym_version) == (old.pseudonym(NUMBER).digest, 1)


@pytest.fixture
def rotated_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Point the command line at the test database, with new keys in front of the old."""
    monkeypatch.setenv("HELPLINE_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("HELPLINE_ENCRYPTION_KEYS", f"{NEW_KEY.decode()},{OLD_KEY.decode()}")
    monkeypatch.setenv("HELPLINE_PSEUDONYM_KEYS", f"2:{_b64(NEW_PSEUDONYM_KEY)},"
                                                  f"1:{_b64(OLD_PSEUDONYM_KEY)}")
    monkeypatch.setenv("HELPLINE_VAR_DIR", str(settings.var_dir))
    asyncio.run(_with_db(settings, lambda db: seed(
        db, Cipher([OLD_KEY]), Pseudonymizer({1: OLD_PSEUDONYM_KEY}))))
    return settings


def _b64(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


async def _with_db(settings: Settings, work: Any) -> Any:
    db = Database(settings.effective_database_url)
    try:
        return await work(db)
    finally:
        await db.dispose()


def test_cli_generate_prints_keys_the_loaders_accept(
        settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    """Test that ``keys generate`` prints environment lines that load as keys."""
    assert main(["keys", "generate", "--pseudonym-version", "3"]) == 0
    out = capsys.readouterr().out
    env = dict(line.split("=", 1) for line in out.splitlines()
               if line and not line.startswith("#"))
    assert env.keys() == {"HELPLINE_ENCRYPTION_KEYS", "HELPLINE_PSEUDONYM_KEYS"}
    keys = load_keys(Settings(env="production", var_dir=settings.var_dir,
                              encryption_keys=env["HELPLINE_ENCRYPTION_KEYS"],
                              pseudonym_keys=env["HELPLINE_PSEUDONYM_KEYS"]))
    assert keys.pseudonyms.current_version == 3
    assert keys.cipher.decrypt(keys.cipher.encrypt("x")) == "x"


def test_cli_generate_numbers_the_pseudonym_key_after_the_newest(
        rotated_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    """Test that ``keys generate`` proposes the pseudonym version after the newest in force."""
    assert main(["keys", "generate"]) == 0
    assert "HELPLINE_PSEUDONYM_KEYS=3:" in capsys.readouterr().out


def test_cli_rotate_exits_zero_when_everything_is_current(
        rotated_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    """Test that ``keys rotate`` re-encrypts everything, prints counts and exits 0."""
    assert main(["keys", "rotate", "--batch", "1"]) == 0
    captured = capsys.readouterr()
    assert "messages.body_enc: 1 values, 1 re-encrypted" in captured.out
    assert "contacts.pseudonym: 1 moved to version 2" in captured.out
    assert "keys rotate: contacts.address_enc: 1 checked" in captured.err
    values = asyncio.run(_with_db(rotated_env, stored_values))
    assert all(Cipher([NEW_KEY]).is_current(v) for v in values.values())


def test_cli_rotate_exits_one_and_lists_undecryptable_values(
        rotated_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    """Test that ``keys rotate`` exits 1 and names table, column and id it cannot read."""
    stranger = Cipher([generate_encryption_key().encode()]).encrypt(BODY)

    async def spoil(db: Database) -> int:
        async with db.transaction() as session:
            message = await session.scalar(select(Message))
            assert message is not None
            message.body_enc = stranger
            return message.id

    message_id = asyncio.run(_with_db(rotated_env, spoil))
    assert main(["keys", "rotate"]) == 1
    assert f"messages.body_enc id {message_id}" in capsys.readouterr().err


def test_cli_rotate_never_shows_a_number_or_text(
        rotated_env: Settings, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    """Test that rotation output and logs hold counts and ids, never a number or a text."""
    caplog.set_level(logging.DEBUG)
    assert main(["keys", "rotate"]) == 0
    captured = capsys.readouterr()
    everything = captured.out + captured.err + caplog.text
    for secret in ("900123", "900201", BODY, "fifteen", "we are here"):
        assert secret not in everything

