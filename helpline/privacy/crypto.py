"""Encryption at rest for values that must be readable again (bodies, reply addresses)."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class DecryptionError(Exception):
    """A stored value could not be decrypted with any configured key."""


class Cipher:
    """Encrypt and decrypt text with MultiFernet: the newest key encrypts, any key decrypts."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is needed")
        self._fernets = [Fernet(key) for key in keys]
        self._multi = MultiFernet(self._fernets)

    def encrypt(self, text: str) -> str:
        """Return ``text`` encrypted under the newest key, as ASCII."""
        return self._multi.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Return the text inside ``token``; raise DecryptionError if no key opens it."""
        try:
            return self._multi.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise DecryptionError("value cannot be decrypted with any configured key") from exc

    def rotate(self, token: str) -> str:
        """Return ``token`` re-encrypted under the newest key."""
        try:
            return self._multi.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken as exc:
            raise DecryptionError("value cannot be decrypted with any configured key") from exc

    def is_current(self, token: str) -> bool:
        """Return whether ``token`` is already encrypted under the newest key."""
        try:
            self._fernets[0].decrypt(token.encode("ascii"))
        except InvalidToken:
            return False
        return True
