"""Specification of ``helpline triage score``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import helpline.cli
from helpline.cli import main

LEXICON_DIR = Path(__file__).resolve().parents[2] / "config" / "lexicon"
MESSAGES = "someone is following me\nwhat time do you open\ni owe them money\n"


def _score(monkeypatch: pytest.MonkeyPatch, text: str, *args: str) -> int:
    # Register only this command group: the test must not depend on other groups' imports.
    monkeypatch.setattr(helpline.cli, "COMMAND_MODULES", ("triage",))
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    return main(["triage", "score", *args])


def test_score_prints_one_json_object_per_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Test that each stdin line gives one JSON line with priority and categories."""
    assert _score(monkeypatch, MESSAGES, "--lexicon", str(LEXICON_DIR)) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["priority"] for line in lines] == ["urgent", "standard", "high"]
    assert lines[0]["categories"] == ["immediate_danger"]
    assert lines[1]["categories"] == []
    assert all(set(line) == {"priority", "categories"} for line in lines)


def test_score_never_prints_the_text(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Test that no part of a message appears in the output."""
    _score(monkeypatch, MESSAGES, "--lexicon", str(LEXICON_DIR))
    captured = capsys.readouterr()
    for word in ("following", "open", "owe"):
        assert word not in captured.out and word not in captured.err


def test_score_finds_the_default_lexicon(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Test that without --lexicon the repository's lexicon is used from any directory."""
    monkeypatch.chdir(tmp_path)
    assert _score(monkeypatch, "au secours\n") == 0
    assert json.loads(capsys.readouterr().out)["priority"] == "urgent"


def test_score_reports_a_bad_lexicon(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Test that an invalid lexicon exits non-zero with the file named on stderr."""
    (tmp_path / "en.yaml").write_text("language: en\nentries: []\n", encoding="utf-8")
    assert _score(monkeypatch, "hello\n", "--lexicon", str(tmp_path)) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "en.yaml" in captured.err
