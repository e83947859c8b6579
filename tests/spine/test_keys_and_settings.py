"""Keys: generated once in development, required in production; settings: env over file."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from helpline.keys import (
    KeyConfigError,
    generate_encryption_key,
    generate_pseudonym_key,
    load_keys,
)
from helpline.privacy.crypto import Cipher, DecryptionError
from helpline.settings import Settings, load_settings


def test_production_refuses_to_start_without_keys(tmp_path: Path) -> None:
    """Test that production without keys fails with a message naming both variables."""
    settings = Settings(env="production", var_dir=tmp_path)
    with pytest.raises(KeyConfigError, match=r"HELPLINE_ENCRYPTION_KEYS, HELPLINE_PSEUDONYM_KEYS"):
        load_keys(settings)


def test_production_names_the_one_missing_variable(tmp_path: Path) -> None:
    """Test that production with only an encryption key names the pseudonym variable."""
    settings = Settings(env="production", var_dir=tmp_path,
                        encryption_keys=generate_encryption_key())
    with pytest.raises(KeyConfigError, match=r"^HELPLINE_PSEUDONYM_KEYS must be set"):
        load_keys(settings)


@pytest.mark.parametrize("variable", ["encryption_keys", "pseudonym_keys"])
def test_malformed_keys_are_named(tmp_path: Path, variable: str) -> None:
    """Test that a malformed key is refused with a message naming its variable."""
    good = {"encryption_keys": generate_encryption_key(),
            "pseudonym_keys": generate_pseudonym_key(1)}
    settings = Settings(env="production", var_dir=tmp_path, **{**good, variable: "not-a-key"})
    with pytest.raises(KeyConfigError, match=f"HELPLINE_{variable.upper()}"):
        load_keys(settings)


def test_a_pseudonym_key_version_below_one_is_refused(tmp_path: Path) -> None:
    """Test that version 0, which marks a contact whose link retention cut, is no key's."""
    settings = Settings(env="production", var_dir=tmp_path,
                        encryption_keys=generate_encryption_key(),
                        pseudonym_keys=generate_pseudonym_key(0))
    with pytest.raises(KeyConfigError, match="key version 0 must be 1 or more"):
        load_keys(settings)


def test_development_keys_are_generated_once_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Test that development generates keys under var/ once, warns, and reuses them."""
    settings = Settings(var_dir=tmp_path)
    with caplog.at_level(logging.WARNING):
        first = load_keys(settings)
    assert "generated development keys" in caplog.text
    assert (tmp_path / "dev-keys.json").stat().st_mode & 0o077 == 0
    second = load_keys(settings)
    token = first.cipher.encrypt("x")
    assert second.cipher.decrypt(token) == "x"
    assert first.pseudonyms.pseudonym("+447700900123") == second.pseudonyms.pseudonym(
        "+447700900123")


def test_pseudonym_is_keyed_not_a_plain_hash() -> None:
    """Test that two keys give different pseudonyms for one number."""
    one = load_keys(Settings(encryption_keys=generate_encryption_key(),
                             pseudonym_keys=generate_pseudonym_key(1)))
    two = load_keys(Settings(encryption_keys=generate_encryption_key(),
                             pseudonym_keys=generate_pseudonym_key(1)))
    number = "+447700900123"
    assert one.pseudonyms.pseudonym(number) != two.pseudonyms.pseudonym(number)
    import hashlib

    assert one.pseudonyms.pseudonym(number).digest != hashlib.sha256(number.encode()).hexdigest()


def test_old_encryption_key_still_decrypts() -> None:
    """Test that a value encrypted under an older key opens once a new key is first."""
    old, new = generate_encryption_key(), generate_encryption_key()
    token = Cipher([old.encode()]).encrypt("hello")
    rotated = Cipher([new.encode(), old.encode()])
    assert rotated.decrypt(token) == "hello"
    assert not rotated.is_current(token)
    assert Cipher([new.encode()]).decrypt(rotated.rotate(token)) == "hello"


def test_unknown_key_cannot_decrypt() -> None:
    """Test that a value under a key we do not hold raises DecryptionError."""
    token = Cipher([generate_encryption_key().encode()]).encrypt("hello")
    with pytest.raises(DecryptionError):
        Cipher([generate_encryption_key().encode()]).decrypt(token)


def test_environment_overrides_the_settings_file(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Test that HELPLINE_* variables win over config/helpline.toml."""
    config = tmp_path / "helpline.toml"
    config.write_text('port = 9000\npublic_url = "https://from-file.example"\n'
                      "[sender]\nmax_attempts = 3\n")
    monkeypatch.setenv("HELPLINE_PORT", "9100")
    monkeypatch.setenv("HELPLINE_SENDER__CONCURRENCY", "2")
    settings = load_settings(config)
    assert settings.port == 9100
    assert settings.public_url == "https://from-file.example"
    assert (settings.sender.max_attempts, settings.sender.concurrency) == (3, 2)


def test_unknown_setting_in_file_is_an_error(tmp_path: Path) -> None:
    """Test that a misspelt key in the settings file is refused, naming it."""
    from pydantic import ValidationError

    config = tmp_path / "helpline.toml"
    config.write_text("prot = 9000\n")
    with pytest.raises(ValidationError, match="prot"):
        load_settings(config)


def test_default_database_is_sqlite_under_var(tmp_path: Path) -> None:
    """Test that without a URL the database is a SQLite file under the var dir."""
    settings = Settings(var_dir=tmp_path)
    assert settings.effective_database_url == f"sqlite+aiosqlite:///{tmp_path}/helpline.db"
