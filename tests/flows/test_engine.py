"""The flow engine walking the shipped flows: replies, priorities, results, timers."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from helpline.triage.flows.engine import FlowContext, FlowEngine, Step, timer_kind
from helpline.triage.priority import Priority

OPEN = FlowContext(open_now=True, channel="sms")
CLOSED = FlowContext(open_now=False, opens_at="8am tomorrow", channel="sms")


def walk(engine: FlowEngine, replies: list[str], context: FlowContext = OPEN,
         flow_id: str = "sms_triage") -> list[Step]:  # fmt: skip
    """Start a flow with "hi", send ``replies`` and return every step."""
    steps = [engine.start(flow_id=flow_id, first_text="hi", context=context)]
    for text in replies:
        steps.append(engine.handle_reply(steps[-1].state, text, context=context))
    return steps


def test_greeting_is_discreet_and_says_how_to_stop(engine: FlowEngine) -> None:
    """Test that the first text hides the service's purpose but is free, confidential, STOP."""
    first = walk(engine, [])[0].replies[0]
    first_line = first.splitlines()[0].lower()
    assert "free" in first_line and "confidential" in first_line
    assert "reply stop to stop" in first_line
    for word in ("missing", "runaway", "trafficking", "abuse", "child"):
        assert word not in first_line


def test_safe_path_asks_questions_then_hands_over(engine: FlowEngine) -> None:
    """Test that a safe young person answers three questions and is queued with results."""
    steps = walk(engine, ["yes", "2", "yes", "yeah"])
    last = steps[-1]
    assert last.handover is Priority.HIGH  # away from home raises the priority
    assert last.ended
    results = {k: v for s in steps for k, v in s.results.items()}
    assert results == {"safe_now": "yes", "age_band": "13-15", "away_from_home": "yes",
                       "wants_to_talk": "yes"}  # fmt: skip
    assert last.state["results"] == results


def test_unsafe_reply_advises_999_and_hands_over_urgently(engine: FlowEngine) -> None:
    """Test that "no" to "are you safe" gets 999 advice and an urgent handover."""
    step = walk(engine, ["nah"])[-1]
    assert "999" in step.replies[0]
    assert step.handover is Priority.URGENT
    assert step.priority is Priority.URGENT
    assert step.results == {"safe_now": "no"}
    assert "danger_now" in step.flags


def test_danger_words_count_as_not_safe(engine: FlowEngine) -> None:
    """Test that "im scared" to "are you safe" is treated as unsafe."""
    assert walk(engine, ["im scared"])[-1].handover is Priority.URGENT


def test_unclear_safety_twice_hands_over_high(engine: FlowEngine) -> None:
    """Test that two unclear answers about safety go to a volunteer at high priority."""
    steps = walk(engine, ["what?", "dunno"])
    assert "Sorry" in steps[1].replies[0]
    assert steps[-1].handover is Priority.HIGH
    assert steps[-1].state["results"]["safe_now"] == "unclear"


def test_out_of_hours_says_when_and_signposts(engine: FlowEngine) -> None:
    """Test that a closed line says when people are back and gives Childline and 999."""
    last = walk(engine, ["yes", "3", "no", "yes"], CLOSED)[-1]
    text = " ".join(last.replies)
    assert "8am tomorrow" in text and "0800 1111" in text and "999" in text
    assert last.handover is Priority.STANDARD


def test_out_of_hours_urgent_still_hands_over_urgently(engine: FlowEngine) -> None:
    """Test that an unsafe young person out of hours is still queued as urgent."""
    last = walk(engine, ["no"], CLOSED)[-1]
    assert last.handover is Priority.URGENT
    assert "0800 1111" in last.replies[-1]


def test_not_wanting_to_talk_ends_without_handover(engine: FlowEngine) -> None:
    """Test that a safe young person at home who does not want to talk is not queued."""
    last = walk(engine, ["yes", "4", "no", "no"])[-1]
    assert last.ended and last.handover is None


def test_talk_to_a_person_jumps_to_handover(engine: FlowEngine) -> None:
    """Test that asking for a person at any question hands over at once."""
    last = walk(engine, ["yes", "can i talk to someone"])[-1]
    assert last.handover is Priority.STANDARD
    assert engine.talk_to_person_phrases("sms_triage")["en"]


def test_reminder_then_expiry(engine: FlowEngine) -> None:
    """Test that the reminder comes first, then expiry hands over without more texts."""
    start = walk(engine, [])[0]
    names = dict(start.timers)
    reminder = next(n for n in names if timer_kind(n) == "reminder")
    expire = next(n for n in names if timer_kind(n) == "expire")
    assert names[reminder] < names[expire]
    reminded = engine.handle_timer(start.state, reminder, context=OPEN)
    assert reminded.replies == ["Are you safe right now? Reply YES or NO."]
    assert reminded.timers == [(expire, names[expire] - names[reminder])]
    expired = engine.handle_timer(reminded.state, expire, context=OPEN)
    assert expired.replies == []
    assert expired.handover is Priority.STANDARD and expired.ended


def test_stale_timer_is_ignored(engine: FlowEngine) -> None:
    """Test that a timer from a question already answered changes nothing."""
    start, answered = walk(engine, ["yes"])
    old = start.timers[0][0]
    step = engine.handle_timer(answered.state, old, context=OPEN)
    assert step.stale
    assert step.replies == [] and step.timers == [] and step.handover is None
    assert step.state == answered.state


def test_priority_is_never_lowered(engine: FlowEngine) -> None:
    """Test that a later standard handover keeps an earlier higher priority."""
    last = walk(engine, ["yes", "1", "yes", "yes"])[-1]
    assert last.state["priority"] == "high"
    assert last.handover is Priority.HIGH


def test_state_is_json_serialisable(engine: FlowEngine) -> None:
    """Test that every state survives a JSON round trip and the flow goes on from it."""
    step = walk(engine, ["yes"])[-1]
    state = json.loads(json.dumps(step.state))
    assert engine.handle_reply(state, "2", context=OPEN).results == {"age_band": "13-15"}


def test_reply_after_the_end_changes_nothing(engine: FlowEngine) -> None:
    """Test that a reply to an ended flow sends nothing."""
    last = walk(engine, ["no"])[-1]
    again = engine.handle_reply(last.state, "hello?", context=OPEN)
    assert again.ended and again.replies == [] and again.handover is None


def test_free_text_answer_is_kept_apart_from_results(engine: FlowEngine) -> None:
    """Test that a free-text answer comes back as free text, never as a result."""
    steps = walk(engine, ["yes", "my foster carer shouted"], flow_id="webchat_triage")
    assert steps[-1].free_text == {"what_is_happening": "my foster carer shouted"}
    assert "what_is_happening" not in steps[-1].results
    assert "my foster carer" not in json.dumps(steps[-1].state)


def test_voice_press_1_is_urgent(engine: FlowEngine) -> None:
    """Test that pressing 1 on the phone menu hands over as urgent."""
    start = engine.start(flow_id="voice_ivr", first_text=None, context=OPEN)
    assert "press 1" in start.replies[0]
    picked = engine.handle_reply(start.state, "1", context=OPEN)
    assert "danger" in picked.replies[0]
    assert engine.handle_reply(picked.state, "1", context=OPEN).handover is Priority.URGENT


def test_voice_language_pick_speaks_arabic(engine: FlowEngine) -> None:
    """Test that pressing 2 at the voice language menu continues in Arabic."""
    start = engine.start(flow_id="voice_ivr", first_text=None, context=OPEN)
    picked = engine.handle_reply(start.state, "2", context=OPEN)
    assert picked.state["language"] == "ar"
    assert "اضغط 1" in picked.replies[0]


def test_logs_never_contain_message_text(engine: FlowEngine, caplog) -> None:
    """Test that walking a flow logs neither the young person's text nor the answers."""
    caplog.set_level("DEBUG")
    secret = "zebra-marmalade"
    walk(engine, ["yes", f"I live at {secret}"], flow_id="webchat_triage")
    walk(engine, [secret, secret])
    assert caplog.records
    assert all(secret not in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("flow_id", ["sms_triage", "webchat_triage", "voice_ivr"])
def test_start_sends_something(engine: FlowEngine, flow_id: str) -> None:
    """Test that every shipped flow greets the young person straight away."""
    step = engine.start(flow_id=flow_id, first_text=None, context=OPEN)
    assert step.replies and not step.ended


def test_voice_question_says_how_many_digits_to_gather(engine: FlowEngine) -> None:
    """Test that a voice question tells the caller to gather one key press."""
    start = engine.start(flow_id="voice_ivr", first_text=None, context=OPEN)
    assert start.digits == 1
    assert walk(engine, [])[0].digits is None  # SMS questions gather no digits


def test_an_urgent_rating_interrupts_any_question(engine: FlowEngine) -> None:
    """Test that the danger interrupt fires on an urgent rating only, at whatever question."""
    at_age = walk(engine, ["yes"])[-1].state  # waiting for the age
    urgent = engine.handle_reply(at_age, "3", context=replace(OPEN, risk=Priority.URGENT))
    assert any("999" in r for r in urgent.replies) and urgent.handover is Priority.URGENT
    for risk in (Priority.HIGH, None):
        step = engine.handle_reply(at_age, "3", context=replace(OPEN, risk=risk))
        assert not any("999" in r for r in step.replies)
        assert step.state["results"]["age_band"] == "16-17"
