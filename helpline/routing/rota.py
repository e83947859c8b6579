"""The on-call rota: who is on call in each tier at an instant, and where nobody is.

A pure module (no database): it reads ``config/rota.yaml`` (format in that file and in
``rota_model``) and answers with login names. Shifts are wall-clock times in the rota's
time zone, so "22:00-06:00" is nine hours on the night clocks go back and seven on the
night they go forward.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

from helpline.configfile import read_yaml_model
from helpline.routing.rota_model import (
    RotaFile,
    RotationModel,
    ShiftModel,
    cross_problems,
    expand_days,
    parse_clock,
    to_utc,
)

__all__ = ["Gap", "OnCall", "Rota", "RotaError", "to_utc"]


class RotaError(ValueError):
    """The rota file is wrong; the message names the file and the field."""


@dataclass(frozen=True)
class OnCall:
    """Who is on call in one tier."""

    tier: str
    logins: tuple[str, ...]  # sorted, deduplicated; empty if nobody


@dataclass(frozen=True)
class Gap:
    """An interval during which a tier has nobody on call."""

    tier: str
    start: datetime  # aware UTC
    end: datetime

    @property
    def duration(self) -> timedelta:
        """Return how long the gap lasts."""
        return self.end - self.start


@dataclass(frozen=True)
class _Rotation:
    start: date
    people: tuple[str, ...]
    every_days: int

    @classmethod
    def from_model(cls, model: RotationModel) -> _Rotation:
        return cls(model.start, tuple(model.people), model.every_days)

    def person_on(self, day: date) -> str:
        """Return whose turn it is for a shift starting on local date ``day``."""
        period = (day - self.start).days // self.every_days
        return self.people[period % len(self.people)]


@dataclass(frozen=True)
class _Shift:
    weekdays: frozenset[int]
    start: time
    end: time | None  # None: the midnight after the start day ("24:00")
    people: frozenset[str]
    rotation: _Rotation | None

    @classmethod
    def from_model(cls, model: ShiftModel, rotations: dict[str, _Rotation]) -> _Shift:
        start = parse_clock(model.start)
        assert start is not None  # start never parses to "24:00"
        return cls(frozenset(expand_days(model.days)), start, parse_clock(model.end, end=True),
                   frozenset(model.people),
                   rotations[model.rotation] if model.rotation is not None else None)

    def occurrence(self, day: date, zone: ZoneInfo) -> tuple[datetime, datetime, frozenset[str]]:
        """Return (start, end) in UTC and the people of this shift begun on local ``day``."""
        if self.end is None:
            end_day, end_time = day + timedelta(days=1), time(0)
        else:
            end_day = day + timedelta(days=1) if self.end <= self.start else day
            end_time = self.end
        people = self.people
        if self.rotation is not None:
            people = people | {self.rotation.person_on(day)}
        return (to_utc(datetime.combine(day, self.start), zone),
                to_utc(datetime.combine(end_day, end_time), zone), people)


@dataclass(frozen=True)
class _Override:
    tier: str
    start: datetime  # UTC
    end: datetime
    person: str | None
    replaces: str | None

    def apply(self, people: set[str]) -> None:
        """Change ``people`` (on call in this override's tier) as this override says."""
        if self.replaces is not None:
            if self.replaces in people:
                people.discard(self.replaces)
                if self.person is not None:
                    people.add(self.person)
        elif self.person is not None:
            people.add(self.person)


def _aware_utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {moment!r}")
    return moment.astimezone(UTC)


class Rota:
    """Tiers of weekly shifts, rotations and overrides in one time zone."""

    def __init__(self, zone: ZoneInfo, shifts: dict[str, tuple[_Shift, ...]],
                 overrides: tuple[_Override, ...]) -> None:
        self._zone = zone
        self._shifts = shifts
        self._overrides = overrides

    @classmethod
    def load(cls, path: Path) -> Rota:
        """Read the rota from YAML; raise RotaError naming the file and the field."""
        data = read_yaml_model(path, RotaFile, RotaError)
        for where, problem in cross_problems(data):
            raise RotaError(f"{path}: {where}: {problem}")
        return cls.from_model(data)

    @classmethod
    def from_model(cls, data: RotaFile) -> Rota:
        """Build from the validated (and cross-checked) file model."""
        zone = ZoneInfo(data.timezone)
        rotations = {name: _Rotation.from_model(r) for name, r in data.rotations.items()}
        shifts = {name: tuple(_Shift.from_model(s, rotations) for s in tier.shifts)
                  for name, tier in data.tiers.items()}
        overrides = tuple(
            _Override(o.tier, to_utc(o.start, zone), to_utc(o.end, zone), o.person, o.replaces)
            for o in data.overrides)
        return cls(zone, shifts, overrides)

    @property
    def tiers(self) -> tuple[str, ...]:
        """Return the tier names in escalation order."""
        return tuple(self._shifts)

    @property
    def timezone(self) -> ZoneInfo:
        """Return the zone the shifts' wall-clock times are in."""
        return self._zone

    def on_call(self, at: datetime) -> list[OnCall]:
        """Return who is on call at ``at``: one entry per tier, in tier order."""
        return [OnCall(tier, self.on_call_for(tier, at)) for tier in self.tiers]

    def on_call_for(self, tier: str, at: datetime) -> tuple[str, ...]:
        """Return the logins on call in ``tier`` at ``at`` (sorted; empty if nobody)."""
        if tier not in self._shifts:
            raise ValueError(f"unknown tier {tier!r} (tiers: {', '.join(self.tiers)})")
        at = _aware_utc(at, "at")
        people: set[str] = set()
        for start, end, logins in self._occurrences(tier, at, at):
            if start <= at < end:
                people |= logins
        for override in self._overrides:
            if override.tier == tier and override.start <= at < override.end:
                override.apply(people)
        return tuple(sorted(people))

    def gaps(self, start: datetime, end: datetime) -> list[Gap]:
        """Return every interval in [start, end) where a tier has nobody on call.

        Adjacent intervals are merged; the list is sorted by start, then tier order.
        """
        start, end = _aware_utc(start, "start"), _aware_utc(end, "end")
        found: list[tuple[datetime, int, Gap]] = []
        for index, tier in enumerate(self.tiers):
            for gap in self._tier_gaps(tier, start, end):
                found.append((gap.start, index, gap))
        return [gap for _start, _index, gap in sorted(found, key=lambda item: item[:2])]

    def _tier_gaps(self, tier: str, start: datetime, end: datetime) -> Iterator[Gap]:
        edges = {start, end}
        for shift_start, shift_end, _people in self._occurrences(tier, start, end):
            edges.update((shift_start, shift_end))
        for override in self._overrides:
            if override.tier == tier:
                edges.update((override.start, override.end))
        points = sorted(edge for edge in edges if start <= edge <= end)
        open_from: datetime | None = None
        # Between two consecutive edges nothing changes, so one look per piece is enough.
        for piece_start, _piece_end in pairwise(points):
            nobody = not self.on_call_for(tier, piece_start)
            if nobody and open_from is None:
                open_from = piece_start
            elif not nobody and open_from is not None:
                yield Gap(tier, open_from, piece_start)
                open_from = None
        if open_from is not None:
            yield Gap(tier, open_from, end)

    def _occurrences(self, tier: str, start: datetime,
                     end: datetime) -> Iterator[tuple[datetime, datetime, frozenset[str]]]:
        """Yield (start, end, people) of the tier's shifts that may touch [start, end].

        A shift begun on local day D ends by midnight after D + 1, so looking from two
        days before ``start`` is enough (one more for a wall time moved by a clock change).
        """
        day = start.astimezone(self._zone).date() - timedelta(days=2)
        last = end.astimezone(self._zone).date() + timedelta(days=1)
        while day <= last:
            for shift in self._shifts[tier]:
                if day.weekday() in shift.weekdays:
                    yield shift.occurrence(day, self._zone)
            day += timedelta(days=1)
