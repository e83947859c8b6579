"""``helpline rota show`` and ``helpline rota check``."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from helpline.cli import main

REPO = Path(__file__).resolve().parents[2]

FULL = """\
timezone: Europe/London
tiers:
  first_line:
    shifts:
      - {start: "22:00", end: "06:00", people: [vol-gus]}
      - {start: "06:00", end: "22:00", rotation: days}
  second_line:
    shifts:
      - {start: "00:00", end: "00:00", people: [vol-iris]}
rotations:
  days: {start: 2026-01-05, people: [vol-amira, vol-ben]}
"""


def write(tmp_path: Path, text: str) -> str:
    """Write a rota file and return its path as a command-line argument."""
    path = tmp_path / "rota.yaml"
    path.write_text(dedent(text), "utf-8")
    return str(path)


def test_show_prints_who_is_on_call_at_a_local_time(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Test that ``rota show --at`` reads a naive time as local and lists each tier."""
    rota = write(tmp_path, FULL)
    assert main(["rota", "--rota", rota, "show", "--at", "2026-06-01T10:00"]) == 0
    assert capsys.readouterr().out == (
        "On call at 2026-06-01 10:00 BST:\n"
        "  first_line   vol-ben\n"
        "  second_line  vol-iris\n"
    )


def test_show_accepts_an_offset_and_the_rota_flag_after_the_command(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Test that ``rota show --rota F --at`` with a UTC offset prints that instant in local time."""
    rota = write(tmp_path, FULL)
    assert main(["rota", "show", "--rota", rota, "--at", "2026-03-29T01:30:00+00:00"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("On call at 2026-03-29 02:30 BST:\n")
    assert "first_line   vol-gus\n" in out


def test_show_says_when_a_local_time_does_not_exist(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Test that ``rota show --at 2026-03-29T01:30`` explains the skipped hour."""
    rota = write(tmp_path, FULL)
    assert main(["rota", "--rota", rota, "show", "--at", "2026-03-29T01:30"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("On call at 2026-03-29 02:30 BST:\n")
    assert "01:30 does not exist in Europe/London" in out


def test_show_marks_a_tier_with_nobody(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Test that a tier with nobody on call shows "(nobody)"."""
    rota = write(tmp_path, FULL.replace('"00:00", end: "00:00"', '"18:00", end: "23:00"'))
    assert main(["rota", "--rota", rota, "show", "--at", "2026-01-05T10:00"]) == 0
    assert "  second_line  (nobody)\n" in capsys.readouterr().out


def test_show_reports_a_broken_file_and_exits_1(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Test that a wrong rota file makes ``rota show`` print the file and field and exit 1."""
    rota = write(tmp_path, FULL.replace('"22:00", end', '"22:75", end'))
    assert main(["rota", "--rota", rota, "show", "--at", "2026-01-05T10:00"]) == 1
    assert f"{rota}: tiers.first_line.shifts[0].start:" in capsys.readouterr().err


def test_check_exits_0_when_every_tier_is_covered(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Test that ``rota check`` exits 0 and says first_line is covered when it is."""
    rota = write(tmp_path, FULL)
    assert main(["rota", "--rota", rota, "check", "--from", "2026-03-23T00:00"]) == 0
    assert capsys.readouterr().out == (
        f"{rota}: first_line covered throughout 2026-03-23 00:00 GMT – 2026-04-06 00:00 BST\n")


def test_check_exits_1_when_the_first_tier_has_a_gap(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Test that ``rota check`` prints a first-tier gap with local bounds and length, exit 1."""
    rota = write(tmp_path, FULL.replace('{start: "22:00", end: "06:00", people: [vol-gus]}',
                                        '{days: [mon-sat], start: "22:00", end: "06:00", '
                                        "people: [vol-gus]}"))
    assert main(["rota", "--rota", rota, "check", "--from", "2026-03-23T06:00",
                 "--days", "7"]) == 1
    out = capsys.readouterr().out
    assert ("error: first_line: nobody on call 2026-03-29 22:00 BST – 2026-03-30 06:00 BST"
            " (8h)\n") in out
    assert out.count("error:") == 1


def test_check_exits_0_with_warnings_for_later_tiers(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Test that gaps only in later tiers are printed as warnings and exit 0."""
    rota = write(tmp_path, FULL.replace('"00:00", end: "00:00"', '"18:00", end: "23:00"'))
    assert main(["rota", "--rota", rota, "check", "--from", "2026-01-05T00:00",
                 "--days", "1"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "warning: second_line: nobody on call 2026-01-05 00:00 GMT – 2026-01-05 18:00 GMT (18h)",
        "warning: second_line: nobody on call 2026-01-05 23:00 GMT – 2026-01-06 00:00 GMT (1h)",
        f"{rota}: first_line covered throughout 2026-01-05 00:00 GMT – 2026-01-06 00:00 GMT;"
        " 2 gap(s) in later tiers",
    ]


def test_check_looks_only_as_far_as_days(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Test that a first-tier gap beyond --days does not fail the check."""
    rota = write(tmp_path, FULL + dedent("""\
        overrides:
          - {tier: first_line, from: "2026-01-10 10:00", to: "2026-01-10 11:00",
             replaces: vol-amira}
        """))
    assert main(["rota", "--rota", rota, "check", "--from", "2026-01-05T00:00",
                 "--days", "5"]) == 0
    assert main(["rota", "--rota", rota, "check", "--from", "2026-01-05T00:00",
                 "--days", "6"]) == 1
    assert "(1h)" in capsys.readouterr().out


def test_check_passes_on_the_shipped_rota(capsys: pytest.CaptureFixture[str]) -> None:
    """Test that ``rota check`` on config/rota.yaml exits 0 over the autumn clock change."""
    rota = str(REPO / "config" / "rota.yaml")
    assert main(["rota", "--rota", rota, "check", "--from", "2026-10-19T00:00"]) == 0
    assert "error:" not in capsys.readouterr().out


def test_check_refuses_a_bad_time(capsys: pytest.CaptureFixture[str]) -> None:
    """Test that ``rota check --from`` with a non-ISO time is a usage error."""
    with pytest.raises(SystemExit) as caught:
        main(["rota", "check", "--from", "next tuesday"])
    assert caught.value.code == 2
    assert "ISO 8601" in capsys.readouterr().err
