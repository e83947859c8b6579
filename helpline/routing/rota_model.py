"""The rota file's schema: tiers of weekly shifts, rotations and one-off overrides."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from helpline.configfile import TimeZone

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# The same rule as ``helpline.users.service.LOGIN``; repeated so the rota needs no database.
LOGIN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
TIER = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")
MIDNIGHT_AFTER = "24:00"


def _login(value: str) -> str:
    if not LOGIN.match(value):
        raise ValueError(
            f"{value!r} is not a login (2-64 lower-case letters, digits, '.', '_' or '-')")
    return value


Login = Annotated[str, AfterValidator(_login)]


def parse_clock(value: object, *, end: bool = False) -> time | None:
    """Return a wall-clock time from "HH:MM"; None for "24:00" (end only: next midnight)."""
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 22:00 as the base-60 number 1320.
        raise ValueError('write times in quotes, like "22:00" (YAML reads 22:00 as a number)')
    match = CLOCK.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f'{value!r} is not a time like "22:00"')
    if end and value == MIDNIGHT_AFTER:
        return None
    hour, minute = int(match[1]), int(match[2])
    if hour > 23 or minute > 59:
        raise ValueError(f'{value!r} is not a time of day ("00:00" to "23:59")')
    return time(hour, minute)


def to_utc(moment: datetime, zone: ZoneInfo) -> datetime:
    """Return ``moment`` in UTC, reading a naive one as wall-clock time in ``zone``.

    A wall time that does not exist (the hour skipped in spring) is read with the offset
    from before the change, so it lands that much later; one that happens twice (the
    hour repeated in autumn) means the first. Either way the same wall time always gives
    the same instant, so shifts that meet on the clock meet in real time too.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone, fold=0)
    return moment.astimezone(UTC)


def expand_days(items: list[str]) -> tuple[int, ...]:
    """Return weekday numbers (Monday 0) for day names and ranges like "mon-fri"."""
    found: set[int] = set()
    for item in items:
        first, _, last = str(item).strip().lower().partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(f"unknown day {item!r}; use {', '.join(DAYS)} or a range like mon-fri")
        start = DAYS.index(first)
        stop = DAYS.index(last) if last else start
        found.update((start + offset) % 7 for offset in range((stop - start) % 7 + 1))
    return tuple(sorted(found))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ShiftModel(_Strict):
    """One weekly shift: on these days, from start to end (the next day if end <= start)."""

    days: list[str] = Field(default_factory=lambda: list(DAYS))
    start: str
    end: str
    people: list[Login] = Field(default_factory=list)
    rotation: str | None = None

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("list at least one day, or leave days out for every day")
        expand_days(value)
        return value

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, value: object) -> object:
        parse_clock(value)
        return value

    @field_validator("end", mode="before")
    @classmethod
    def _end(cls, value: object) -> object:
        parse_clock(value, end=True)
        return value

    @model_validator(mode="after")
    def _someone(self) -> ShiftModel:
        if not self.people and self.rotation is None:
            raise ValueError("a shift needs people, a rotation, or both")
        return self


class TierModel(_Strict):
    """A tier of the escalation: its weekly shifts."""

    shifts: list[ShiftModel] = Field(default_factory=list)


class RotationModel(_Strict):
    """People taking turns: period N after ``start`` (a local date) is person N mod len."""

    start: date
    people: list[Login] = Field(min_length=1)
    every_days: int = Field(7, ge=1, le=366)


class OverrideModel(_Strict):
    """One-off cover: ``person`` on call in ``tier`` from ``from`` to ``to``.

    With ``replaces``, ``person`` stands in wherever that login would be on call
    (leave ``person`` out to take them off with no cover); without it, ``person``
    is added to whoever is on call. Naive times are the rota's local time.
    """

    tier: str
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    person: Login | None = None
    replaces: Login | None = None

    @model_validator(mode="after")
    def _sense(self) -> OverrideModel:
        if self.person is None and self.replaces is None:
            raise ValueError("an override needs person, replaces, or both")
        if self.person is not None and self.person == self.replaces:
            raise ValueError(f"{self.person!r} cannot replace themselves")
        return self


class RotaFile(_Strict):
    """The whole rota file."""

    timezone: TimeZone = "Europe/London"
    tiers: dict[str, TierModel] = Field(min_length=1)
    rotations: dict[str, RotationModel] = Field(default_factory=dict)
    overrides: list[OverrideModel] = Field(default_factory=list)

    @field_validator("tiers")
    @classmethod
    def _tier_names(cls, value: dict[str, TierModel]) -> dict[str, TierModel]:
        for name in value:
            if not TIER.match(str(name)):
                raise ValueError(f"tier name {name!r}: use lower-case letters, digits and '_'")
        return value


def cross_problems(data: RotaFile) -> Iterator[tuple[str, str]]:
    """Yield (field, problem) for references between parts of the file that do not hold."""
    for tier_name, tier in data.tiers.items():
        for index, shift in enumerate(tier.shifts):
            if shift.rotation is not None and shift.rotation not in data.rotations:
                known = ", ".join(data.rotations) or "none defined"
                yield (f"tiers.{tier_name}.shifts[{index}].rotation",
                       f"unknown rotation {shift.rotation!r} (rotations: {known})")
    for index, override in enumerate(data.overrides):
        if override.tier not in data.tiers:
            yield (f"overrides[{index}].tier",
                   f"unknown tier {override.tier!r} (tiers: {', '.join(data.tiers)})")
        zone = ZoneInfo(data.timezone)
        if to_utc(override.end, zone) <= to_utc(override.start, zone):
            yield f"overrides[{index}].to", "must be after from"
