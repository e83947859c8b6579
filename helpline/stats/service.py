"""Count conversations by what they were, never by who or what was said."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.conversations.models import Conversation


@dataclass
class Aggregate:
    """Counts over conversations that started in a period."""

    conversations: int = 0
    by_channel: Counter[str] = field(default_factory=Counter)
    by_priority: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)
    results: Counter[tuple[str, str]] = field(default_factory=Counter)
    risk_categories: Counter[str] = field(default_factory=Counter)
    target_breaches: int = 0
    repeat_contacts: int = 0  # contacts with more than one conversation in the period


async def aggregate(session: AsyncSession, *, start: datetime, end: datetime) -> Aggregate:
    """Return counts for conversations created in [start, end); metadata only."""
    rows = (await session.execute(
        select(Conversation.contact_id, Conversation.channel, Conversation.priority,
               Conversation.status, Conversation.results, Conversation.flags,
               Conversation.target_breached_at)
        .where(Conversation.created_at >= start, Conversation.created_at < end)
    )).all()
    out = Aggregate(conversations=len(rows))
    per_contact: Counter[int] = Counter()
    for row in rows:
        per_contact[row.contact_id] += 1
        out.by_channel[row.channel] += 1
        out.by_priority[row.priority] += 1
        out.by_status[row.status] += 1
        out.results.update((k, str(v)) for k, v in (row.results or {}).items())
        out.risk_categories.update(f.removeprefix("risk:") for f in row.flags or []
                                   if f.startswith("risk:"))
        out.target_breaches += row.target_breached_at is not None
    out.repeat_contacts = sum(1 for n in per_contact.values() if n > 1)
    return out

