"""Opening hours in the helpline's time zone, summer time included."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from helpline.routing.hours import HoursError, OpeningHours
from tests.conftest import REPO

HOURS = OpeningHours.load(REPO / "config" / "opening_hours.yaml")


def utc(*args: int) -> datetime:
    """Return a UTC datetime."""
    return datetime(*args, tzinfo=UTC)


def test_open_at_noon_on_a_monday() -> None:
    """Test that noon on a Monday is within opening hours."""
    assert HOURS.is_open(utc(2026, 1, 5, 12))


def test_closed_at_three_in_the_morning() -> None:
    """Test that 3am is outside opening hours and the next opening is 09:00."""
    assert not HOURS.is_open(utc(2026, 1, 5, 3))
    assert HOURS.describe_next(utc(2026, 1, 5, 3)) == "09:00"


def test_summer_time_shifts_the_utc_opening() -> None:
    """Test that in British Summer Time 09:00 London is 08:00 UTC."""
    assert HOURS.is_open(utc(2026, 7, 6, 8, 30))
    assert not HOURS.is_open(utc(2026, 1, 5, 8, 30))


def test_midnight_end_keeps_friday_open_late() -> None:
    """Test that a span ending 00:00 runs to midnight."""
    assert HOURS.is_open(utc(2026, 1, 9, 23, 30))  # Friday 23:30 GMT


def test_closed_date_is_skipped(tmp_path: Path) -> None:
    """Test that a closed date is closed and the next opening is the day after."""
    path = tmp_path / "hours.yaml"
    path.write_text("weekly: {mon: ['09:00-17:00'], tue: ['09:00-17:00']}\n"
                    "closed_dates: [2026-01-05]\n")
    hours = OpeningHours.load(path)
    assert not hours.is_open(utc(2026, 1, 5, 12))
    assert hours.describe_next(utc(2026, 1, 5, 12)) == "09:00"
    assert hours.describe_next(utc(2026, 1, 6, 18)) == "12/01 09:00"


def test_bad_span_names_the_field(tmp_path: Path) -> None:
    """Test that a malformed span is refused naming the file and the day."""
    path = tmp_path / "hours.yaml"
    path.write_text("weekly: {mon: ['nine to five']}\n")
    with pytest.raises(HoursError, match=r"hours\.yaml: weekly: .*mon: opening span"):
        OpeningHours.load(path)
