"""Keyed, versioned pseudonyms for phone numbers and other contact identities."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass


@dataclass(frozen=True)
class Pseudonym:
    """An HMAC-SHA256 of an identity under one version of the pseudonym key."""

    version: int
    digest: str


class Pseudonymizer:
    """Turn an identity (an E.164 number) into a pseudonym that cannot be enumerated back."""

    def __init__(self, keys: dict[int, bytes]) -> None:
        if not keys:
            raise ValueError("at least one pseudonym key is needed")
        self._keys = dict(keys)
        self.current_version = max(keys)

    def pseudonym(self, identity: str) -> Pseudonym:
        """Return the pseudonym of ``identity`` under the newest key."""
        return self._under(self.current_version, identity)

    def all_pseudonyms(self, identity: str) -> list[Pseudonym]:
        """Return the pseudonym under every known key, newest first (for lookups)."""
        return [self._under(v, identity) for v in sorted(self._keys, reverse=True)]

    def _under(self, version: int, identity: str) -> Pseudonym:
        mac = hmac.new(self._keys[version], identity.encode("utf-8"), hashlib.sha256)
        return Pseudonym(version=version, digest=mac.hexdigest())
