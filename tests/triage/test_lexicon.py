"""Specification of the risk lexicon's matching behaviour."""

from __future__ import annotations

import random
import unicodedata
from pathlib import Path

import pytest

from helpline.triage import normalise
from helpline.triage.lexicon import LexiconError, RiskLexicon
from helpline.triage.priority import Priority

LEXICON_DIR = Path(__file__).resolve().parents[2] / "config" / "lexicon"


@pytest.fixture(scope="module")
def lexicon() -> RiskLexicon:
    """Load the real lexicon once."""
    return RiskLexicon.load(LEXICON_DIR)


def _priority(lexicon: RiskLexicon, text: str) -> Priority | None:
    return lexicon.assess(text).priority


def test_languages_cover_corpus_and_tigrinya(lexicon: RiskLexicon) -> None:
    """Test that every required language has a lexicon file."""
    assert {"en", "ar", "fa", "vi", "fr", "sq", "ps", "ckb", "so", "ti"} <= set(lexicon.languages)


def test_non_english_files_await_review() -> None:
    """Test that every non-English file is marked for native speaker review."""
    for path in LEXICON_DIR.glob("*.yaml"):
        if path.stem != "en":
            assert "review: awaiting native speaker review" in path.read_text(encoding="utf-8")


def test_plain_phrase_is_urgent(lexicon: RiskLexicon) -> None:
    """Test that a plain danger phrase is assessed urgent with its category."""
    assessment = lexicon.assess("they locked me in the room")
    assert assessment.priority is Priority.URGENT
    assert assessment.categories == ("held_or_moved",)
    assert assessment.raised


def test_case_and_punctuation_are_ignored(lexicon: RiskLexicon) -> None:
    """Test that case and punctuation do not hide a phrase."""
    assert _priority(lexicon, "SOMEONE...IS FOLLOWING ME!!!") is Priority.URGENT


def test_accents_are_ignored(lexicon: RiskLexicon) -> None:
    """Test that text with or without diacritics matches the same entry."""
    with_marks = lexicon.assess("em muốn chết")
    without_marks = lexicon.assess("em muon chet")
    assert with_marks.priority is without_marks.priority is Priority.URGENT
    assert with_marks.matches == without_marks.matches


def test_arabic_letter_variants_and_harakat_are_ignored(lexicon: RiskLexicon) -> None:
    """Test that alef variants, tatweel and harakat do not hide an Arabic phrase."""
    assert _priority(lexicon, "بِدّي أنتـــحر") is Priority.URGENT


def test_persian_and_arabic_yeh_and_kaf_are_unified(lexicon: RiskLexicon) -> None:
    """Test that a Persian phrase typed with Arabic yeh and kaf still matches."""
    assert _priority(lexicon, "خودكشي") is Priority.URGENT


def test_repeated_letters_still_match(lexicon: RiskLexicon) -> None:
    """Test that stretched words ("pleeeease", "killl") still match."""
    assert _priority(lexicon, "pleeeease im gonna killll myselfff") is Priority.URGENT


def test_lone_stretched_cry_for_help_is_urgent(lexicon: RiskLexicon) -> None:
    """Test that a message that is only "helppppp" is urgent."""
    assert _priority(lexicon, "helppppp!!!") is Priority.URGENT


def test_help_inside_an_ordinary_question_is_not_raised(lexicon: RiskLexicon) -> None:
    """Test that "help" within an ordinary request does not raise the priority."""
    assert _priority(lexicon, "can you help me find a college course") is None


def test_misspellings_are_forgiven(lexicon: RiskLexicon) -> None:
    """Test that a small misspelling of a long word still matches."""
    assert _priority(lexicon, "i feel sucidal") is Priority.URGENT
    assert _priority(lexicon, "they kidnaped me") is Priority.URGENT


def test_short_words_must_match_exactly(lexicon: RiskLexicon) -> None:
    """Test that a short word one letter away from a risk word does not match."""
    assert _priority(lexicon, "i taped the show") is None


def test_text_speak_is_expanded(lexicon: RiskLexicon) -> None:
    """Test that text-speak ("ur", "r", "2nite", "wanna") is understood."""
    assert _priority(lexicon, "i wanna die 2nite") is Priority.URGENT
    assert _priority(lexicon, "they r following me rn") is Priority.URGENT


def test_joined_words_match(lexicon: RiskLexicon) -> None:
    """Test that phrases typed without spaces still match."""
    assert _priority(lexicon, "gonna killmyself") is Priority.URGENT
    assert _priority(lexicon, "kill my self") is Priority.URGENT


def test_long_phrase_spaced_anywhere_matches(lexicon: RiskLexicon) -> None:
    """Test that the longest phrase matches with its spaces in other places, or none."""
    for text in ("donot knowwhere theyaretaking me", "donotknowwheretheyaretakingme"):
        assert _priority(lexicon, text) is Priority.URGENT, text


def test_joined_match_must_align_with_word_boundaries(lexicon: RiskLexicon) -> None:
    """Test that a phrase hidden across unrelated words does not match."""
    assert _priority(lexicon, "the skill myselfie thing") is None


def test_negated_fear_is_not_raised(lexicon: RiskLexicon) -> None:
    """Test that "i'm not in danger" and "i'm not scared" stay standard."""
    assert _priority(lexicon, "i'm not in danger") is None
    assert _priority(lexicon, "im not scared of him anymore") is None


def test_not_safe_is_urgent(lexicon: RiskLexicon) -> None:
    """Test that saying one is not safe is urgent despite the negation."""
    assert _priority(lexicon, "i'm not safe here") is Priority.URGENT


def test_safe_now_stays_standard(lexicon: RiskLexicon) -> None:
    """Test that "i'm safe now" is not raised."""
    assert _priority(lexicon, "i'm safe now, thank you") is None


def test_ordinary_messages_stay_standard(lexicon: RiskLexicon) -> None:
    """Test that everyday messages in several languages are not raised."""
    for text in (
        "hi, what time do you open tomorrow",
        "can i talk to someone about school",
        "merci pour votre aide",
        "شكرا كثير",
        "xin chào, em muốn hỏi về trường học",
    ):
        assert _priority(lexicon, text) is None, text


def test_high_risk_is_high_not_urgent(lexicon: RiskLexicon) -> None:
    """Test that serious but not immediate risk is assessed high."""
    assert _priority(lexicon, "i owe them money for the journey") is Priority.HIGH


def test_now_word_makes_serious_risk_urgent(lexicon: RiskLexicon) -> None:
    """Test that nowhere to sleep becomes urgent when it is tonight."""
    assert _priority(lexicon, "i have nowhere to sleep") is Priority.HIGH
    assert _priority(lexicon, "i have nowhere to sleep tonight") is Priority.URGENT


def test_fear_with_other_risk_is_urgent(lexicon: RiskLexicon) -> None:
    """Test that fear together with another risk is urgent."""
    assert _priority(lexicon, "im sleeping rough and im so scared") is Priority.URGENT


def test_languages_argument_restricts_matching(lexicon: RiskLexicon) -> None:
    """Test that ``languages`` restricts which files can match."""
    assert lexicon.assess("au secours", languages=["en"]).priority is None
    assert lexicon.assess("au secours", languages=["fr"]).priority is Priority.URGENT


def test_mixed_language_message_matches_without_detection(lexicon: RiskLexicon) -> None:
    """Test that a message mixing languages matches every language it uses."""
    assessment = lexicon.assess("please help, ma famille au pays, they took my passport")
    assert {match.language for match in assessment.matches} >= {"en", "fr"}


def test_bad_field_names_file_entry_and_field(tmp_path: Path) -> None:
    """Test that an invalid priority gives a LexiconError naming file, entry and field."""
    (tmp_path / "en.yaml").write_text(
        "language: en\nentries:\n"
        "  - id: en.ok\n    category: violence\n    priority: high\n    phrases: [hurts me]\n"
        "  - id: en.bad\n    category: violence\n    priority: sometimes\n    phrases: [x]\n",
        encoding="utf-8",
    )
    with pytest.raises(LexiconError) as caught:
        RiskLexicon.load(tmp_path)
    message = str(caught.value)
    assert "en.yaml" in message and "'en.bad'" in message and "'priority'" in message


def test_unknown_category_is_refused(tmp_path: Path) -> None:
    """Test that an unknown category is refused with the field named."""
    (tmp_path / "fr.yaml").write_text(
        "language: fr\nentries:\n"
        "  - id: fr.x\n    category: weather\n    priority: urgent\n    phrases: [orage]\n",
        encoding="utf-8",
    )
    with pytest.raises(LexiconError, match=r"fr\.yaml.*'fr\.x'.*'category'"):
        RiskLexicon.load(tmp_path)


def test_malformed_yaml_is_refused(tmp_path: Path) -> None:
    """Test that a file that is not valid YAML gives a LexiconError naming it."""
    (tmp_path / "so.yaml").write_text("language: so\nentries: [\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=r"so\.yaml"):
        RiskLexicon.load(tmp_path)


def test_empty_directory_is_refused(tmp_path: Path) -> None:
    """Test that a directory without lexicon files is refused."""
    with pytest.raises(LexiconError, match="no lexicon files"):
        RiskLexicon.load(tmp_path)


def test_folding_ascii_takes_a_short_cut_to_the_same_words() -> None:
    """Test that ASCII text, folded without Unicode normalisation, folds exactly as before."""
    def by_unicode(text: str) -> str:
        text = unicodedata.normalize("NFKC", text).casefold().translate(normalise._FOLD_TABLE)
        return "".join(c for c in unicodedata.normalize("NFD", text)
                       if not unicodedata.combining(c))

    ascii_chars = [chr(code) for code in range(128)]
    texts = [*ascii_chars, "I'M SCARED`", "Can't   GO back\tHOME!!"]
    texts += ["".join(random.Random(seed).choices(ascii_chars, k=30)) for seed in range(500)]
    assert [normalise.fold(t) for t in texts] == [by_unicode(t) for t in texts]
