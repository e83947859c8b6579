"""Language: picked by number at the start, or detected from the first message."""

from __future__ import annotations

from helpline.triage.flows.engine import FlowContext, FlowEngine
from helpline.triage.flows.language import LanguageGuesser

OPEN = FlowContext()


def test_language_picked_by_number_repeats_the_question(engine: FlowEngine) -> None:
    """Test that replying 3 to the first question switches to Vietnamese and asks again."""
    start = engine.start(flow_id="sms_triage", first_text="hi", context=OPEN)
    step = engine.handle_reply(start.state, "3", context=OPEN)
    assert step.state["language"] == "vi" and step.language == "vi"
    assert "Bạn có an toàn" in step.replies[0]
    assert step.results == {}


def test_language_picked_by_name(engine: FlowEngine) -> None:
    """Test that replying with a language's own name switches to it."""
    start = engine.start(flow_id="sms_triage", first_text="hi", context=OPEN)
    assert engine.handle_reply(start.state, "فارسی", context=OPEN).state["language"] == "fa"


def test_later_answers_follow_the_picked_language(engine: FlowEngine) -> None:
    """Test that yes/no in the picked language works after switching."""
    start = engine.start(flow_id="sms_triage", first_text="hi", context=OPEN)
    arabic = engine.handle_reply(start.state, "2", context=OPEN)
    step = engine.handle_reply(arabic.state, "نعم", context=OPEN)
    assert step.results == {"safe_now": "yes"}
    assert "كم عمرك" in step.replies[0]


def test_arabic_first_message_is_detected(engine: FlowEngine) -> None:
    """Test that an Arabic first message starts the flow in Arabic."""
    step = engine.start(flow_id="sms_triage", first_text="مرحبا أحتاج مساعدة", context=OPEN)
    assert step.state["language"] == "ar"
    assert "هل أنت بأمان" in step.replies[0]


def test_vietnamese_first_message_is_detected(engine: FlowEngine) -> None:
    """Test that a Vietnamese first message starts the flow in Vietnamese."""
    step = engine.start(flow_id="sms_triage", first_text="xin chào, tôi cần giúp đỡ",
                        context=OPEN)  # fmt: skip
    assert step.state["language"] == "vi"


def test_short_latin_text_stays_in_default_language(guesser: LanguageGuesser) -> None:
    """Test that short or ambiguous texts such as "hello" fall back to the default."""
    for text in ("hello", "hi", "ok", "?", "help"):
        assert guesser.guess(text, ["en", "ar", "vi", "fa"], "en") == "en"


def test_explicit_language_wins_over_detection(engine: FlowEngine) -> None:
    """Test that a language given by the caller is used as is."""
    step = engine.start(flow_id="sms_triage", first_text="مرحبا", context=OPEN, language="fa")
    assert step.state["language"] == "fa"


def test_detector_is_built_once_per_language_set(guesser: LanguageGuesser) -> None:
    """Test that the detector is cached and reused."""
    guesser.guess("xin chào các bạn", ["en", "vi"], "en")
    first = guesser._detector(frozenset({"en", "vi"}))
    guesser.guess("tôi cần giúp đỡ", ["vi", "en"], "en")
    assert guesser._detector(frozenset({"en", "vi"})) is first
