"""The on-call rota: shifts, rotations, overrides, summer time and gaps."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from textwrap import dedent

import pytest

from helpline.routing.rota import Gap, OnCall, Rota, RotaError

REPO = Path(__file__).resolve().parents[2]


def utc(*parts: int) -> datetime:
    """Return an aware UTC datetime."""
    return datetime(*parts, tzinfo=UTC)


def load(tmp_path: Path, text: str) -> Rota:
    """Write ``text`` as a rota file and load it."""
    path = tmp_path / "rota.yaml"
    path.write_text(dedent(text), "utf-8")
    return Rota.load(path)


def one_tier(tmp_path: Path, shifts: str, extra: str = "") -> Rota:
    """Load a rota with a single tier ``first_line`` made of ``shifts`` (YAML list items)."""
    items = "".join(f"      {line}\n" for line in dedent(shifts).splitlines())
    return load(tmp_path, "timezone: Europe/London\ntiers:\n  first_line:\n    shifts:\n"
                + items + dedent(extra))


# -- shifts -------------------------------------------------------------------------------

def test_shift_covers_an_instant_inside_it(tmp_path: Path) -> None:
    """Test that a weekday shift gives its person at 10:00 on a Monday."""
    rota = one_tier(tmp_path, '- {days: [mon-fri], start: "09:00", end: "17:00", '
                              "people: [vol-amira]}")
    assert rota.on_call_for("first_line", utc(2026, 1, 5, 10, 0)) == ("vol-amira",)


def test_shift_does_not_cover_other_days(tmp_path: Path) -> None:
    """Test that a Monday-to-Friday shift has nobody on a Saturday."""
    rota = one_tier(tmp_path, '- {days: [mon-fri], start: "09:00", end: "17:00", '
                              "people: [vol-amira]}")
    assert rota.on_call_for("first_line", utc(2026, 1, 10, 10, 0)) == ()


def test_shift_end_is_exclusive(tmp_path: Path) -> None:
    """Test that a shift ending at 17:00 no longer covers 17:00 itself."""
    rota = one_tier(tmp_path, '- {start: "09:00", end: "17:00", people: [vol-amira]}')
    assert rota.on_call_for("first_line", utc(2026, 1, 5, 16, 59)) == ("vol-amira",)
    assert rota.on_call_for("first_line", utc(2026, 1, 5, 17, 0)) == ()


def test_shift_crossing_midnight_covers_early_morning(tmp_path: Path) -> None:
    """Test that a shift "Sunday 22:00-06:00" covers 02:00 on Monday."""
    rota = one_tier(tmp_path, '- {days: [sun], start: "22:00", end: "06:00", '
                              "people: [vol-gus]}")
    assert rota.on_call_for("first_line", utc(2026, 1, 12, 2, 0)) == ("vol-gus",)


def test_shift_crossing_midnight_does_not_cover_its_own_early_morning(tmp_path: Path) -> None:
    """Test that a shift "Sunday 22:00-06:00" does not cover 02:00 on Sunday."""
    rota = one_tier(tmp_path, '- {days: [sun], start: "22:00", end: "06:00", '
                              "people: [vol-gus]}")
    assert rota.on_call_for("first_line", utc(2026, 1, 11, 2, 0)) == ()


def test_equal_start_and_end_make_a_whole_day(tmp_path: Path) -> None:
    """Test that a shift "09:00-09:00" lasts 24 hours."""
    rota = one_tier(tmp_path, '- {days: [mon], start: "09:00", end: "09:00", '
                              "people: [sup-dana]}")
    assert rota.on_call_for("first_line", utc(2026, 1, 6, 8, 59)) == ("sup-dana",)
    assert rota.on_call_for("first_line", utc(2026, 1, 6, 9, 0)) == ()


def test_on_call_lists_every_tier_in_order_with_sorted_unique_logins(tmp_path: Path) -> None:
    """Test that on_call gives one entry per tier, in order, logins sorted and unique."""
    rota = load(tmp_path, """\
        tiers:
          first_line:
            shifts:
              - {start: "00:00", end: "00:00", people: [vol-ben, vol-amira]}
              - {start: "08:00", end: "20:00", people: [vol-amira]}
          second_line:
            shifts: []
          supervisor:
            shifts:
              - {start: "00:00", end: "24:00", people: [sup-dana]}
        """)
    assert rota.tiers == ("first_line", "second_line", "supervisor")
    assert rota.on_call(utc(2026, 1, 5, 12, 0)) == [
        OnCall("first_line", ("vol-amira", "vol-ben")),
        OnCall("second_line", ()),
        OnCall("supervisor", ("sup-dana",)),
    ]


def test_naive_instant_is_refused(tmp_path: Path) -> None:
    """Test that asking about a naive datetime raises instead of guessing its zone."""
    rota = one_tier(tmp_path, '- {start: "09:00", end: "17:00", people: [vol-amira]}')
    with pytest.raises(ValueError, match="timezone-aware"):
        rota.on_call_for("first_line", datetime(2026, 1, 5, 10, 0))  # noqa: DTZ001


# -- rotations ----------------------------------------------------------------------------

ROTATION = """\
rotations:
  days:
    start: 2026-01-05
    people: [vol-amira, vol-ben, vol-chen]
"""


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (utc(2026, 1, 5, 10, 0), "vol-amira"),  # week 0
        (utc(2026, 1, 14, 10, 0), "vol-ben"),  # week 1
        (utc(2026, 2, 2, 10, 0), "vol-ben"),  # week 4: 4 mod 3 = 1
        (utc(2026, 1, 2, 10, 0), "vol-chen"),  # week -1, before the anchor
    ],
)
def test_weekly_rotation_gives_person_n_mod_len(tmp_path: Path, at: datetime,
                                                expected: str) -> None:
    """Test that week N after the anchor date is person N mod the number of people."""
    rota = one_tier(tmp_path, '- {start: "08:00", end: "16:00", rotation: days}', ROTATION)
    assert rota.on_call_for("first_line", at) == (expected,)


def test_rotation_follows_the_day_the_shift_started(tmp_path: Path) -> None:
    """Test that Sunday night's shift keeps that week's person after midnight."""
    rota = one_tier(tmp_path, '- {start: "23:00", end: "08:00", rotation: days}', ROTATION)
    assert rota.on_call_for("first_line", utc(2026, 1, 12, 2, 0)) == ("vol-amira",)
    assert rota.on_call_for("first_line", utc(2026, 1, 13, 2, 0)) == ("vol-ben",)


def test_rotation_period_can_be_daily(tmp_path: Path) -> None:
    """Test that every_days: 1 hands over each day."""
    rota = one_tier(tmp_path, '- {start: "08:00", end: "16:00", rotation: days}',
                    ROTATION + "    every_days: 1\n")
    assert rota.on_call_for("first_line", utc(2026, 1, 7, 10, 0)) == ("vol-chen",)


# -- overrides ----------------------------------------------------------------------------

WEEKDAYS = '- {days: [mon-fri], start: "09:00", end: "17:00", people: [vol-ben, vol-dev]}'


def test_override_replaces_a_person(tmp_path: Path) -> None:
    """Test that cover for a sick volunteer takes their place on their shift."""
    rota = one_tier(tmp_path, WEEKDAYS, """\
        overrides:
          - {tier: first_line, from: "2026-01-05 00:00", to: "2026-01-07 00:00",
             person: vol-chen, replaces: vol-ben}
        """)
    assert rota.on_call_for("first_line", utc(2026, 1, 6, 10, 0)) == ("vol-chen", "vol-dev")


def test_override_replacement_is_only_on_when_the_replaced_person_is(tmp_path: Path) -> None:
    """Test that the cover is not on call outside the replaced person's shift."""
    rota = one_tier(tmp_path, WEEKDAYS, """\
        overrides:
          - {tier: first_line, from: "2026-01-05 00:00", to: "2026-01-07 00:00",
             person: vol-chen, replaces: vol-ben}
        """)
    assert rota.on_call_for("first_line", utc(2026, 1, 6, 20, 0)) == ()


def test_override_adds_a_person(tmp_path: Path) -> None:
    """Test that an override without replaces adds its person for the whole window."""
    rota = one_tier(tmp_path, WEEKDAYS, """\
        overrides:
          - {tier: first_line, from: "2026-01-06 16:00", to: "2026-01-06 22:00",
             person: vol-chen}
        """)
    assert rota.on_call_for("first_line", utc(2026, 1, 6, 16, 30)) == (
        "vol-ben", "vol-chen", "vol-dev")
    assert rota.on_call_for("first_line", utc(2026, 1, 6, 21, 0)) == ("vol-chen",)


def test_override_ends_at_its_to_instant(tmp_path: Path) -> None:
    """Test that an override no longer applies at its ``to`` time."""
    rota = one_tier(tmp_path, WEEKDAYS, """\
        overrides:
          - {tier: first_line, from: "2026-01-06 09:00", to: "2026-01-06 12:00",
             person: vol-chen, replaces: vol-ben}
        """)
    assert rota.on_call_for("first_line", utc(2026, 1, 6, 12, 0)) == ("vol-ben", "vol-dev")


def test_override_without_person_takes_someone_off(tmp_path: Path) -> None:
    """Test that replaces without person leaves the slot empty."""
    rota = one_tier(tmp_path, '- {start: "09:00", end: "17:00", people: [vol-ben]}', """\
        overrides:
          - {tier: first_line, from: "2026-01-06 00:00", to: "2026-01-07 00:00",
             replaces: vol-ben}
        """)
    assert rota.on_call_for("first_line", utc(2026, 1, 6, 10, 0)) == ()


def test_override_naive_times_are_local_time(tmp_path: Path) -> None:
    """Test that an override's naive times are read as London summer time in June."""
    rota = one_tier(tmp_path, '- {start: "09:00", end: "17:00", people: [vol-ben]}', """\
        overrides:
          - {tier: first_line, from: "2026-06-01 12:00", to: "2026-06-01 13:00",
             person: vol-chen}
        """)
    assert rota.on_call_for("first_line", utc(2026, 6, 1, 11, 0)) == ("vol-ben", "vol-chen")
    assert rota.on_call_for("first_line", utc(2026, 6, 1, 12, 0)) == ("vol-ben",)


def test_override_with_offset_is_that_instant(tmp_path: Path) -> None:
    """Test that an override written with a UTC offset keeps that instant."""
    rota = one_tier(tmp_path, '- {start: "09:00", end: "17:00", people: [vol-ben]}', """\
        overrides:
          - {tier: first_line, from: "2026-06-01T12:00:00+00:00",
             to: "2026-06-01T13:00:00+00:00", person: vol-chen}
        """)
    assert rota.on_call_for("first_line", utc(2026, 6, 1, 12, 30)) == ("vol-ben", "vol-chen")


# -- summer time --------------------------------------------------------------------------

NIGHTS = """\
- {start: "22:00", end: "06:00", people: [vol-gus]}
- {start: "06:00", end: "22:00", people: [vol-amira]}
"""


def test_spring_forward_night_shift_is_seven_hours(tmp_path: Path) -> None:
    """Test that on 2026-03-29 the 22:00-06:00 shift runs 22:00 UTC to 05:00 UTC."""
    rota = one_tier(tmp_path, NIGHTS)
    assert rota.on_call_for("first_line", utc(2026, 3, 28, 21, 59)) == ("vol-amira",)
    assert rota.on_call_for("first_line", utc(2026, 3, 28, 22, 0)) == ("vol-gus",)
    assert rota.on_call_for("first_line", utc(2026, 3, 29, 4, 59)) == ("vol-gus",)
    assert rota.on_call_for("first_line", utc(2026, 3, 29, 5, 0)) == ("vol-amira",)


def test_fall_back_night_shift_is_nine_hours(tmp_path: Path) -> None:
    """Test that on 2026-10-25 the 22:00-06:00 shift runs 21:00 UTC to 06:00 UTC."""
    rota = one_tier(tmp_path, NIGHTS)
    assert rota.on_call_for("first_line", utc(2026, 10, 24, 20, 59)) == ("vol-amira",)
    assert rota.on_call_for("first_line", utc(2026, 10, 24, 21, 0)) == ("vol-gus",)
    assert rota.on_call_for("first_line", utc(2026, 10, 25, 5, 59)) == ("vol-gus",)
    assert rota.on_call_for("first_line", utc(2026, 10, 25, 6, 0)) == ("vol-amira",)


SPLIT_AT_0130 = """\
- {start: "22:00", end: "01:30", people: [vol-gus]}
- {start: "01:30", end: "08:00", people: [vol-hana]}
- {start: "08:00", end: "22:00", people: [vol-amira]}
"""


def test_skipped_wall_time_hands_over_without_a_gap(tmp_path: Path) -> None:
    """Test that a handover at 01:30 on 2026-03-29 (no such time) happens at 01:30 UTC."""
    rota = one_tier(tmp_path, SPLIT_AT_0130)
    assert rota.on_call_for("first_line", utc(2026, 3, 29, 1, 29)) == ("vol-gus",)
    assert rota.on_call_for("first_line", utc(2026, 3, 29, 1, 30)) == ("vol-hana",)
    assert rota.gaps(utc(2026, 3, 28), utc(2026, 3, 30)) == []


def test_repeated_wall_time_hands_over_at_its_first_occurrence(tmp_path: Path) -> None:
    """Test that a handover at 01:30 on 2026-10-25 (twice) happens at 00:30 UTC."""
    rota = one_tier(tmp_path, SPLIT_AT_0130)
    assert rota.on_call_for("first_line", utc(2026, 10, 25, 0, 29)) == ("vol-gus",)
    assert rota.on_call_for("first_line", utc(2026, 10, 25, 0, 30)) == ("vol-hana",)
    assert rota.on_call_for("first_line", utc(2026, 10, 25, 1, 45)) == ("vol-hana",)
    assert rota.gaps(utc(2026, 10, 24), utc(2026, 10, 26)) == []


def test_shift_inside_the_skipped_hour_runs_at_the_pre_change_offset(tmp_path: Path) -> None:
    """Test that a shift 01:10-01:50 on 2026-03-29 (no such times) runs 01:10-01:50 UTC."""
    rota = one_tier(tmp_path, '- {days: [sun], start: "01:10", end: "01:50", '
                              "people: [vol-gus]}")
    assert rota.on_call_for("first_line", utc(2026, 3, 29, 1, 20)) == ("vol-gus",)
    assert rota.gaps(utc(2026, 3, 29), utc(2026, 3, 30)) == [
        Gap("first_line", utc(2026, 3, 29), utc(2026, 3, 29, 1, 10)),
        Gap("first_line", utc(2026, 3, 29, 1, 50), utc(2026, 3, 30)),
    ]


# -- gaps ---------------------------------------------------------------------------------

def test_gap_has_exact_bounds(tmp_path: Path) -> None:
    """Test that a 09:00-17:00 BST shift leaves gaps that end at 08:00 and start at 16:00 UTC."""
    rota = one_tier(tmp_path, '- {start: "09:00", end: "17:00", people: [vol-ben]}')
    assert rota.gaps(utc(2026, 6, 1, 0, 0), utc(2026, 6, 2, 0, 0)) == [
        Gap("first_line", utc(2026, 6, 1, 0, 0), utc(2026, 6, 1, 8, 0)),
        Gap("first_line", utc(2026, 6, 1, 16, 0), utc(2026, 6, 2, 0, 0)),
    ]


def test_gap_is_merged_across_an_override_edge(tmp_path: Path) -> None:
    """Test that an override starting inside a gap does not split it in two."""
    rota = one_tier(tmp_path, '- {start: "09:00", end: "17:00", people: [vol-ben]}', """\
        overrides:
          - {tier: first_line, from: "2026-01-05 03:00", to: "2026-01-05 12:00",
             replaces: vol-ben, person: vol-chen}
        """)
    assert rota.gaps(utc(2026, 1, 5, 0, 0), utc(2026, 1, 5, 12, 0)) == [
        Gap("first_line", utc(2026, 1, 5, 0, 0), utc(2026, 1, 5, 9, 0))]


def test_gaps_are_sorted_by_start_then_tier_order(tmp_path: Path) -> None:
    """Test that gaps of several tiers come by start time, ties in escalation order."""
    rota = load(tmp_path, """\
        tiers:
          first_line:
            shifts: [{start: "12:00", end: "00:00", people: [vol-ben]}]
          second_line:
            shifts: [{start: "06:00", end: "00:00", people: [vol-iris]}]
        """)
    assert rota.gaps(utc(2026, 1, 5, 0, 0), utc(2026, 1, 6, 0, 0)) == [
        Gap("first_line", utc(2026, 1, 5, 0, 0), utc(2026, 1, 5, 12, 0)),
        Gap("second_line", utc(2026, 1, 5, 0, 0), utc(2026, 1, 5, 6, 0)),
    ]


@pytest.mark.parametrize("start", [utc(2026, 3, 16), utc(2026, 10, 12), utc(2026, 12, 21)])
def test_shipped_rota_has_no_first_line_gap_over_28_days(start: datetime) -> None:
    """Test that config/rota.yaml keeps first_line covered for 28 days, clock changes included."""
    rota = Rota.load(REPO / "config" / "rota.yaml")
    gaps = rota.gaps(start, start + timedelta(days=28))
    assert [gap for gap in gaps if gap.tier == rota.tiers[0]] == []
    assert rota.tiers == ("first_line", "second_line", "supervisor")


def test_shipped_rota_has_a_supervisor_around_the_clock() -> None:
    """Test that config/rota.yaml always has a supervisor on call."""
    rota = Rota.load(REPO / "config" / "rota.yaml")
    start = utc(2026, 3, 16)
    gaps = rota.gaps(start, start + timedelta(days=28))
    assert [gap for gap in gaps if gap.tier == "supervisor"] == []


# -- errors -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        ("tiers: {first_line: {shifts: [{start: '09:00', end: '17:00', people: [a1]}, "
         "{start: '25:00', end: '06:00', people: [a1]}]}}",
         "tiers.first_line.shifts[1].start", "time of day"),
        ("tiers: {first_line: {shifts: [{start: 22:00, end: '06:00', people: [a1]}]}}",
         "tiers.first_line.shifts[0].start", "quotes"),
        ("tiers: {first_line: {shifts: [{days: [mon, funday], start: '09:00', end: '17:00', "
         "people: [a1]}]}}", "tiers.first_line.shifts[0].days", "funday"),
        ("tiers: {first_line: {shifts: [{start: '09:00', end: '17:00', rotation: nope}]}}",
         "tiers.first_line.shifts[0].rotation", "unknown rotation"),
        ("tiers: {first_line: {shifts: [{start: '09:00', end: '17:00'}]}}",
         "tiers.first_line.shifts[0]", "needs people"),
        ("tiers: {first_line: {shifts: [{start: '09:00', end: '17:00', peple: [a1]}]}}",
         "tiers.first_line.shifts[0].peple", "Extra inputs"),
        ("tiers: {first_line: {shifts: [{start: '09:00', end: '17:00', people: [Amira B]}]}}",
         "tiers.first_line.shifts[0].people[0]", "not a login"),
        ("timezone: Europe/Londn\ntiers: {first_line: {shifts: []}}",
         "timezone", "unknown time zone"),
        ("tiers: {first_line: {shifts: []}}\nrotations: {r: {start: 2026-01-05, people: []}}",
         "rotations.r.people", "at least 1"),
        ("tiers: {first_line: {shifts: []}}\noverrides: [{tier: second, from: '2026-01-05 09:00',"
         " to: '2026-01-05 10:00', person: a1}]", "overrides[0].tier", "unknown tier"),
        ("tiers: {first_line: {shifts: []}}\noverrides: [{tier: first_line, "
         "from: '2026-01-05 09:00', to: '2026-01-05 08:00', person: a1}]",
         "overrides[0].to", "after from"),
        ("tiers: {}", "tiers", "at least 1"),
    ],
    ids=["bad-time", "unquoted-time", "bad-day", "unknown-rotation", "nobody", "typo",
         "bad-login", "bad-zone", "empty-rotation", "override-tier", "override-backwards",
         "no-tiers"],
)
def test_wrong_field_is_named_with_the_file(tmp_path: Path, text: str, where: str,
                                            says: str) -> None:
    """Test that a wrong field raises RotaError naming the file, the field and the problem."""
    path = tmp_path / "rota.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises(RotaError) as caught:
        Rota.load(path)
    assert str(caught.value).startswith(f"{path}: {where}: ")
    assert says in str(caught.value)


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    """Test that a YAML syntax error raises RotaError naming the file."""
    path = tmp_path / "rota.yaml"
    path.write_text("tiers: [first_line\n", "utf-8")
    with pytest.raises(RotaError, match=rf"^{re.escape(str(path))}: not valid YAML"):
        Rota.load(path)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    """Test that a missing rota file raises RotaError naming it."""
    with pytest.raises(RotaError, match=r"missing\.yaml: cannot read"):
        Rota.load(tmp_path / "missing.yaml")


def test_rota_error_is_a_value_error() -> None:
    """Test that RotaError can be caught as ValueError."""
    assert issubclass(RotaError, ValueError)
