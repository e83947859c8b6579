"""Load the encryption and pseudonym keys; generate development keys once under ``var/``."""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet

from helpline.privacy.crypto import Cipher
from helpline.privacy.pseudonym import Pseudonymizer
from helpline.settings import Settings

log = logging.getLogger(__name__)

DEV_KEY_FILE = "dev-keys.json"
MIN_PSEUDONYM_KEY_BYTES = 32


class KeyConfigError(Exception):
    """Keys are missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class KeyRing:
    """The keys in force: a cipher for reversible values and a pseudonymizer for lookups."""

    cipher: Cipher
    pseudonyms: Pseudonymizer


def load_keys(settings: Settings) -> KeyRing:
    """Return the key ring from settings; in development, generate missing keys once."""
    enc = settings.encryption_keys.get_secret_value() if settings.encryption_keys else ""
    pse = settings.pseudonym_keys.get_secret_value() if settings.pseudonym_keys else ""
    if not (enc and pse):
        if settings.env == "production":
            missing = [
                name
                for name, value in (
                    ("HELPLINE_ENCRYPTION_KEYS", enc),
                    ("HELPLINE_PSEUDONYM_KEYS", pse),
                )
                if not value
            ]
            raise KeyConfigError(f"{', '.join(missing)} must be set when HELPLINE_ENV=production")
        dev = _development_keys(settings.var_dir)
        enc = enc or dev["encryption_keys"]
        pse = pse or dev["pseudonym_keys"]
    return KeyRing(cipher=_cipher(enc), pseudonyms=_pseudonymizer(pse))


def generate_encryption_key() -> str:
    """Return a new Fernet key."""
    return Fernet.generate_key().decode("ascii")


def generate_pseudonym_key(version: int) -> str:
    """Return a new ``version:base64`` pseudonym key."""
    return f"{version}:{base64.urlsafe_b64encode(secrets.token_bytes(32)).decode('ascii')}"


def _cipher(value: str) -> Cipher:
    keys = [part.strip() for part in value.split(",") if part.strip()]
    try:
        return Cipher([key.encode("ascii") for key in keys])
    except (ValueError, TypeError) as exc:
        raise KeyConfigError(
            "HELPLINE_ENCRYPTION_KEYS must be comma-separated Fernet keys, newest first"
        ) from exc


def _pseudonymizer(value: str) -> Pseudonymizer:
    keys: dict[int, bytes] = {}
    for part in (p.strip() for p in value.split(",") if p.strip()):
        version, sep, encoded = part.partition(":")
        try:
            if not sep:
                raise ValueError
            key = base64.urlsafe_b64decode(encoded.encode("ascii"))
            number = int(version)
        except (ValueError, TypeError) as exc:
            raise KeyConfigError(
                "HELPLINE_PSEUDONYM_KEYS must be comma-separated 'version:base64key' pairs"
            ) from exc
        if number < 1:  # retention marks a contact whose link it cut with version 0
            raise KeyConfigError(
                f"HELPLINE_PSEUDONYM_KEYS: key version {number} must be 1 or more")
        if len(key) < MIN_PSEUDONYM_KEY_BYTES:
            raise KeyConfigError(
                f"HELPLINE_PSEUDONYM_KEYS: key version {number} is shorter than 32 bytes"
            )
        keys[number] = key
    if not keys:
        raise KeyConfigError("HELPLINE_PSEUDONYM_KEYS has no keys")
    return Pseudonymizer(keys)


def _development_keys(var_dir: Path) -> dict[str, str]:
    path = var_dir / DEV_KEY_FILE
    if path.is_file():
        return json.loads(path.read_text("utf-8"))
    var_dir.mkdir(parents=True, exist_ok=True)
    keys = {
        "encryption_keys": generate_encryption_key(),
        "pseudonym_keys": generate_pseudonym_key(1),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(keys, fh)
    log.warning(
        "generated development keys in %s; set HELPLINE_ENCRYPTION_KEYS and "
        "HELPLINE_PSEUDONYM_KEYS for anything but development",
        path,
    )
    return keys
