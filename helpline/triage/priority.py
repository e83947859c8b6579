"""Conversation priorities, shared by triage, routing and statistics."""

from __future__ import annotations

from enum import StrEnum


class Priority(StrEnum):
    """How soon a person must see a conversation."""

    URGENT = "urgent"  # danger to life or safety now
    HIGH = "high"  # serious risk, not this minute
    STANDARD = "standard"

    @property
    def rank(self) -> int:
        """Return a sort key: lower ranks are more urgent."""
        return _RANK[self]

    def raised_to(self, other: Priority | None) -> Priority:
        """Return the more urgent of this priority and ``other``; never lowers."""
        if other is None:
            return self
        return other if other.rank < self.rank else self


_RANK = {Priority.URGENT: 0, Priority.HIGH: 1, Priority.STANDARD: 2}
