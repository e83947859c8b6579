"""Case tests on replies: tolerant of case, punctuation, text-speak and other scripts."""

from __future__ import annotations

import pytest

from helpline.triage.flows.matching import Facts, Reply, case_matches, means
from helpline.triage.flows.models import Case

NO_FACTS = Facts(open_now=True, results={}, flags=frozenset())


def matches(case: dict, text: str, language: str = "en") -> bool:
    """Return whether a case built from ``case`` matches ``text``."""
    return case_matches(Case(goto="x", **case), Reply(text), language, NO_FACTS)


@pytest.mark.parametrize(
    ("text", "language"),
    [("y", "en"), ("Yeah!", "en"), ("ye", "en"), ("YH", "en"), ("ya", "en"), ("yesss", "en"),
     ("Yes please", "en"), ("safe", "en"), ("نعم", "ar"), ("ايوه", "ar"), ("có", "vi"),
     ("Co a", "vi"),
     ("vâng", "vi"), ("بله", "fa"), ("آره", "fa"), ("yes", "vi")],
)  # fmt: skip
def test_yes_in_text_speak_means_yes(text: str, language: str) -> None:
    """Test that yes, text-speak and yes in the conversation's language mean yes."""
    assert means(Reply(text).words, "yes", language)
    assert not means(Reply(text).words, "no", language)


@pytest.mark.parametrize(
    ("text", "language"),
    [("no", "en"), ("N", "en"), ("nah.", "en"), ("Nope", "en"), ("not really", "en"),
     ("I'm not", "en"), ("لا", "ar"), ("không", "vi"), ("ko", "vi"), ("نه", "fa"),
     ("NO!!!", "fa")],
)  # fmt: skip
def test_no_in_text_speak_means_no(text: str, language: str) -> None:
    """Test that no, text-speak and no in the conversation's language mean no."""
    assert means(Reply(text).words, "no", language)
    assert not means(Reply(text).words, "yes", language)


def test_unclear_reply_means_neither() -> None:
    """Test that a reply that is neither yes nor no matches neither."""
    assert not means(Reply("maybe").words, "yes", "en")
    assert not means(Reply("maybe").words, "no", "en")


def test_numbered_choice_matches_its_number() -> None:
    """Test that "2", "2." and "option 2" pick choice 2 and not choice 1."""
    for text in ("2", "2.", "option 2", " 2 "):
        assert matches({"choice": 2}, text)
        assert not matches({"choice": 1}, text)


def test_numbered_choice_accepts_arabic_digits() -> None:
    """Test that Arabic-Indic and Persian digits pick a numbered choice."""
    assert matches({"choice": 3}, "٣")
    assert matches({"choice": 3}, "۳")


def test_numbered_choice_ignores_numbers_in_long_sentences() -> None:
    """Test that a number inside a longer sentence is not taken as a menu choice."""
    assert not matches({"choice": 2}, "i have been out for 2 days now")


def test_number_range_matches_ages_inside_it() -> None:
    """Test that a number range matches numbers inside it, words included."""
    assert matches({"range": [13, 15]}, "I'm 14")
    assert matches({"range": [13, 15]}, "fifteen")
    assert not matches({"range": [13, 15]}, "16")


def test_exact_number_matches() -> None:
    """Test that a number test matches that number only."""
    assert matches({"number": 16}, "16 yrs")
    assert not matches({"number": 16}, "17")


def test_regex_matches_ignoring_case() -> None:
    """Test that a regular expression matches regardless of case."""
    assert matches({"regex": r"^stop\b"}, "STOP now")
    assert not matches({"regex": r"^stop\b"}, "don't stop")


def test_phrase_matches_words_together_despite_punctuation() -> None:
    """Test that a phrase matches its words in order, whatever the punctuation."""
    assert matches({"phrase": "kicked out"}, "they KICKED... out me")
    assert not matches({"phrase": "kicked out"}, "out, kicked")


def test_phrase_matches_with_missing_spaces() -> None:
    """Test that a phrase written without spaces still matches."""
    assert matches({"phrase": "not safe"}, "im notsafe")


def test_any_word_tolerates_one_typo_in_long_words() -> None:
    """Test that a long word with one typo still matches an any-words test."""
    assert matches({"any": ["scared"]}, "im so scraed")
    assert not matches({"any": ["sad"]}, "bad")


def test_all_words_needs_every_word() -> None:
    """Test that an all-words test needs every word, in any order."""
    assert matches({"all": ["home", "police"]}, "police came home")
    assert not matches({"all": ["home", "police"]}, "going home")


def test_words_match_without_vietnamese_accents() -> None:
    """Test that Vietnamese words match with or without their accents."""
    assert matches({"any": ["nguy hiểm"]}, "toi dang gap nguy hiem")


def test_context_case_matches_when_closed() -> None:
    """Test that an open_now case compares with the context, not the reply."""
    facts = Facts(open_now=False, results={}, flags=frozenset())
    assert case_matches(Case(goto="x", open_now=False), None, "en", facts)
    assert not case_matches(Case(goto="x", open_now=True), None, "en", facts)
