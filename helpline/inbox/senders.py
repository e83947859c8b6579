"""What the inbox derives from a sender, kept for a few minutes so their next texts skip it."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Sender:
    """A sender as the inbox stores them: never the number, only what stands for it."""

    address_enc: str  # the reply address, encrypted (a Fernet token)
    sender_key: str  # the pseudonym of the number


class RecentSenders:
    """The ``Sender`` of each recent ``From``: a texter's next texts skip the number's work.

    Normalising the number, its HMAC pseudonym and encrypting the reply address cost about
    a quarter of a webhook's CPU in the running server (84 of about 300 µs under py-spy),
    and come out the same for every text of a conversation. Entries are found by a keyed
    BLAKE2b digest of ``From`` under a key made for this process alone, so no number is
    held in memory, in clear or as anything that could be tried against a list of
    numbers; what is held is what the inbox row holds anyway. An entry lasts ``seconds``
    from when it was made (a burst of texts, not a relationship), then goes at the next
    ``put`` or ``forget_expired`` (the inbox's writer calls it after every commit, and
    the app every minute); beyond ``size`` the oldest go.
    """

    def __init__(self, *, seconds: float = 600.0, size: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._key = secrets.token_bytes(32)
        self._seconds = seconds
        self._size = size
        self._clock = clock
        self._entries: OrderedDict[bytes, tuple[float, Sender]] = OrderedDict()

    def _digest(self, raw_from: str) -> bytes:
        return hashlib.blake2b(raw_from.encode(), key=self._key, digest_size=32).digest()

    def get(self, raw_from: str) -> Sender | None:
        """Return the sender of ``raw_from`` if it was seen within ``seconds``."""
        digest = self._digest(raw_from)
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if self._clock() - entry[0] > self._seconds:
            del self._entries[digest]
            return None
        return entry[1]  # a hit does not extend the entry's life: oldest stay first

    def put(self, raw_from: str, sender: Sender) -> None:
        """Remember ``sender`` for ``raw_from``; drop the expired, and the oldest past ``size``."""
        digest = self._digest(raw_from)
        self._entries[digest] = (self._clock(), sender)
        self._entries.move_to_end(digest)
        self.forget_expired()
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def forget_expired(self) -> None:
        """Drop every entry older than ``seconds`` (they are in the order they were made)."""
        cutoff = self._clock() - self._seconds
        while self._entries:
            digest, (made, _sender) = next(iter(self._entries.items()))
            if made >= cutoff:
                return
            del self._entries[digest]

    def __len__(self) -> int:
        return len(self._entries)
