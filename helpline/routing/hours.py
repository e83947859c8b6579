"""Opening hours: when volunteers answer, in the helpline's own time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

from helpline.configfile import TimeZone, read_yaml_model

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class HoursError(ValueError):
    """The opening hours file is wrong; the message names the file and the field."""


class _HoursFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: TimeZone = "Europe/London"
    weekly: dict[str, list[str]] = Field(default_factory=dict)
    closed_dates: list[date] = Field(default_factory=list)

    @field_validator("weekly")
    @classmethod
    def _days(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, spans in value.items():
            if day not in DAYS:
                raise ValueError(f"unknown day {day!r}; use {', '.join(DAYS)}")
            for span in spans:
                try:
                    _parse_span(span)
                except ValueError as exc:
                    raise ValueError(f"{day}: {exc}") from None
        return value


def _parse_span(span: str) -> tuple[time, time]:
    try:
        start, end = (time.fromisoformat(part.strip()) for part in span.split("-"))
    except ValueError:
        raise ValueError(f"opening span {span!r} is not like '09:00-21:00'") from None
    if end <= start and end != time(0):
        raise ValueError(f"opening span {span!r} ends before it starts")
    return start, end


@dataclass(frozen=True)
class OpeningHours:
    """Weekly opening spans in a time zone, with closed dates."""

    zone: ZoneInfo
    weekly: dict[int, list[tuple[time, time]]]
    closed_dates: frozenset[date]

    @classmethod
    def load(cls, path: Path) -> OpeningHours:
        """Read opening hours from YAML; raise HoursError naming the file and field."""
        data = read_yaml_model(path, _HoursFile, HoursError)
        return cls.from_model(data)

    @classmethod
    def always_open(cls) -> OpeningHours:
        """Return hours that are open around the clock."""
        return cls.from_model(_HoursFile(weekly={d: ["00:00-00:00"] for d in DAYS}))

    @classmethod
    def from_model(cls, data: _HoursFile) -> OpeningHours:
        """Build from the validated file model."""
        weekly = {DAYS.index(day): [_parse_span(s) for s in spans]
                  for day, spans in data.weekly.items()}
        return cls(ZoneInfo(data.timezone), weekly, frozenset(data.closed_dates))

    def is_open(self, now: datetime) -> bool:
        """Return whether volunteers are answering at ``now``."""
        local = now.astimezone(self.zone)
        if local.date() in self.closed_dates:
            return False
        return any(_within(local.time(), span) for span in self.weekly.get(local.weekday(), []))

    def next_opening(self, now: datetime) -> datetime | None:
        """Return when volunteers are next answering (``now`` if open); None if never."""
        if self.is_open(now):
            return now
        local = now.astimezone(self.zone)
        for offset in range(0, 15):
            day = local.date() + timedelta(days=offset)
            if day in self.closed_dates:
                continue
            for start, _end in sorted(self.weekly.get(day.weekday(), [])):
                opening = datetime.combine(day, start, self.zone)
                if opening > local:
                    return opening
        return None

    def describe_next(self, now: datetime) -> str | None:
        """Return when we open next in a form every language can read: "09:00" or "26/12 09:00"."""
        opening = self.next_opening(now)
        if opening is None:
            return None
        local_now = now.astimezone(self.zone)
        if (opening.date() - local_now.date()).days <= 1 and opening - local_now < timedelta(1):
            return opening.strftime("%H:%M")
        return opening.strftime("%d/%m %H:%M")

def _within(moment: time, span: tuple[time, time]) -> bool:
    start, end = span
    return start <= moment and (end == time(0) or moment < end)
