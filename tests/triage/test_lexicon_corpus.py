"""Measure the risk lexicon against the shared development corpus, per language."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from helpline.triage.lexicon import RiskLexicon
from helpline.triage.priority import Priority

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpus" / "triage-dev.tsv"
LEXICON_DIR = REPO / "config" / "lexicon"

MIN_URGENT_RECALL = 0.95
MIN_RAISED_RECALL = 0.90
MAX_STANDARD_TO_URGENT = 0.05
MAX_STANDARD_RAISED = 0.15


@dataclass
class Tally:
    """Counts for one language (or all of them)."""

    urgent: int = 0
    urgent_caught: int = 0
    serious: int = 0  # urgent or high
    serious_raised: int = 0
    standard: int = 0
    standard_urgent: int = 0
    standard_raised: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, expected: Priority, got: Priority | None, line_number: int) -> None:
        """Count one corpus line."""
        if expected is Priority.URGENT:
            self.urgent += 1
            self.urgent_caught += got is Priority.URGENT
        if expected in (Priority.URGENT, Priority.HIGH):
            self.serious += 1
            self.serious_raised += got is not None
        if expected is Priority.STANDARD:
            self.standard += 1
            self.standard_urgent += got is Priority.URGENT
            self.standard_raised += got is not None
        if (got or Priority.STANDARD) is not expected:
            self.misses.append(f"line {line_number}: expected {expected}, got {got}")

    @staticmethod
    def share(part: int, whole: int) -> float | None:
        """Return ``part / whole``, or None when there is nothing to measure."""
        return part / whole if whole else None

    def figures(self) -> dict[str, float | None]:
        """Return the four measured shares."""
        return {
            "urgent_recall": self.share(self.urgent_caught, self.urgent),
            "raised_recall": self.share(self.serious_raised, self.serious),
            "standard_to_urgent": self.share(self.standard_urgent, self.standard),
            "standard_raised": self.share(self.standard_raised, self.standard),
        }


def _measure() -> dict[str, Tally]:
    """Assess every corpus line and tally the results per language and overall."""
    lexicon = RiskLexicon.load(LEXICON_DIR)
    tallies: dict[str, Tally] = defaultdict(Tally)
    for number, line in enumerate(CORPUS.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        priority, language, text = line.split("\t", 2)
        got = lexicon.assess(text).priority
        tallies[language].add(Priority(priority), got, number)
        tallies["ALL"].add(Priority(priority), got, number)
    return dict(tallies)


def _format(value: float | None) -> str:
    return "   -" if value is None else f"{value:4.2f}"


def _print_table(tallies: dict[str, Tally]) -> None:
    """Print the figures per language; never the messages themselves."""
    print()
    print("lang  n(urg/high/std)  urgent_recall  raised_recall  std->urgent  std_raised")
    for language in sorted(tallies, key=lambda name: (name == "ALL", name)):
        tally = tallies[language]
        figures = tally.figures()
        high = tally.serious - tally.urgent
        print(
            f"{language:<5} {tally.urgent:>3}/{high:>3}/{tally.standard:>3}"
            f"      {_format(figures['urgent_recall'])}"
            f"           {_format(figures['raised_recall'])}"
            f"           {_format(figures['standard_to_urgent'])}"
            f"         {_format(figures['standard_raised'])}"
        )
        for miss in tally.misses:
            print(f"      {miss}")


@pytest.fixture(scope="module")
def tallies() -> dict[str, Tally]:
    """Measure the corpus once for every test in this module."""
    if not CORPUS.is_file():
        pytest.skip(f"development corpus not found at {CORPUS} (../shared beside the repo)")
    result = _measure()
    _print_table(result)
    return result


def _languages(tallies: dict[str, Tally]) -> list[str]:
    return sorted(tallies)


def test_urgent_recall_per_language(tallies: dict[str, Tally]) -> None:
    """Test that at least 95% of urgent messages are assessed urgent in every language."""
    low = {
        language: value
        for language in _languages(tallies)
        if (value := tallies[language].figures()["urgent_recall"]) is not None
        and value < MIN_URGENT_RECALL
    }
    assert not low, f"urgent recall below {MIN_URGENT_RECALL}: {low}"


def test_raised_recall_per_language(tallies: dict[str, Tally]) -> None:
    """Test that at least 90% of urgent or high messages are raised in every language."""
    low = {
        language: value
        for language in _languages(tallies)
        if (value := tallies[language].figures()["raised_recall"]) is not None
        and value < MIN_RAISED_RECALL
    }
    assert not low, f"urgent-or-high recall below {MIN_RAISED_RECALL}: {low}"


def test_standard_rarely_raised_to_urgent(tallies: dict[str, Tally]) -> None:
    """Test that at most 5% of standard messages are raised to urgent in every language."""
    high = {
        language: value
        for language in _languages(tallies)
        if (value := tallies[language].figures()["standard_to_urgent"]) is not None
        and value > MAX_STANDARD_TO_URGENT
    }
    assert not high, f"standard raised to urgent above {MAX_STANDARD_TO_URGENT}: {high}"


def test_standard_rarely_raised(tallies: dict[str, Tally]) -> None:
    """Test that at most 15% of standard messages are raised at all in every language."""
    high = {
        language: value
        for language in _languages(tallies)
        if (value := tallies[language].figures()["standard_raised"]) is not None
        and value > MAX_STANDARD_RAISED
    }
    assert not high, f"standard raised above {MAX_STANDARD_RAISED}: {high}"
