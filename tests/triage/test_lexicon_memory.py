"""The lexicon keeps words of children's texts in memory briefly, and never their numbers."""

from __future__ import annotations

from pathlib import Path

from helpline.triage.lexicon import RiskLexicon
from helpline.triage.priority import Priority
from tests.conftest import Ticks

LEXICON_DIR = Path(__file__).resolve().parents[2] / "config" / "lexicon"


def test_no_token_with_a_digit_is_kept() -> None:
    """Test that numbers, postcodes and house numbers in a text are not cached."""
    lexicon = RiskLexicon.load(LEXICON_DIR, clock=Ticks())
    lexicon.assess("call me on 07700 900123 or +447700900123, im at 12 high st nw1 6xe")
    kept = set(lexicon._forms)
    assert kept and not any(char.isdigit() for word in kept for char in word)


def test_words_are_forgotten_after_ten_minutes() -> None:
    """Test that the words of a text are gone ten minutes later, with or without new texts."""
    ticks = Ticks()
    lexicon = RiskLexicon.load(LEXICON_DIR, clock=ticks)
    lexicon.assess("amira is staying with her uncle")
    assert "amira" in lexicon._forms
    ticks.now = 601
    lexicon.forget_old_words()  # what the service does every minute
    assert lexicon._forms == {}
    lexicon.assess("amira again")
    ticks.now = 1202
    assert lexicon.assess("i want to kill myself").priority is Priority.URGENT
    assert "amira" not in lexicon._forms
