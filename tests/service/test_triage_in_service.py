"""Triage inside the service: keywords, the risk lexicon, flows, timers and the queue."""

from __future__ import annotations

import json

from helpline import appkeys
from tests.service.helpers import Texter


async def test_first_text_gets_the_discreet_greeting(texter: Texter) -> None:
    """Test that the first reply says free, confidential and how to stop, not the purpose."""
    [reply] = await texter.send("hi")
    first_line = reply.splitlines()[0].lower()
    assert "free" in first_line and "confidential" in first_line and "stop" in first_line
    for purpose in ("missing", "runaway", "abuse", "trafficking", "helpline"):
        assert purpose not in first_line


async def test_unsafe_answer_gets_999_and_urgent_queue(texter: Texter) -> None:
    """Test that answering NO to 'are you safe' advises 999 and queues the case as urgent."""
    await texter.send("hi")
    replies = await texter.send("no")
    assert any("999" in r for r in replies)
    conversation = await texter.conversation()
    assert (conversation.priority, conversation.status) == ("urgent", "queued")
    assert conversation.results["safe_now"] == "no"
    assert "alert.opened" in await texter.audit_actions()


async def test_safe_path_asks_questions_then_queues(texter: Texter) -> None:
    """Test that a safe texter answers the short questions and is queued with results."""
    await texter.send("hello")
    await texter.send("yes")
    await texter.send("2")
    await texter.send("yes")
    replies = await texter.send("yes")
    assert any("text you back" in r for r in replies)
    conversation = await texter.conversation()
    assert conversation.status == "queued"
    assert conversation.priority == "high"  # away from home or care
    assert conversation.results == {"safe_now": "yes", "age_band": "13-15",
                                    "away_from_home": "yes", "wants_to_talk": "yes"}


async def test_stop_opts_out_and_silences_everything(texter: Texter) -> None:
    """Test that STOP opts the contact out and nothing more is sent, whatever they text."""
    await texter.send("hi")
    assert await texter.send("Stop") == []
    assert (await texter.contact()).opted_out_at is not None
    assert await texter.send("are you there") == []
    assert "contact.opted_out" in await texter.audit_actions()


async def test_start_opts_back_in(texter: Texter) -> None:
    """Test that START after STOP lets replies flow again."""
    await texter.send("hi")
    await texter.send("STOP")
    await texter.send("start")
    assert (await texter.contact()).opted_out_at is None
    assert await texter.send("yes") != []


async def test_help_keyword_gets_help_text(texter: Texter) -> None:
    """Test that HELP is answered with the discreet help text and 999."""
    [reply] = await texter.send("HELP")
    assert "999" in reply and "STOP" in reply


async def test_risk_words_raise_priority_mid_flow_without_blocking(texter: Texter) -> None:
    """Test that a risk phrase makes the case urgent while the flow carries on."""
    await texter.send("hi")
    replies = await texter.send("im gonna kill myself tonight")
    assert replies  # the conversation is not blocked
    conversation = await texter.conversation()
    assert conversation.priority == "urgent"
    assert "risk:suicide_self_harm" in conversation.flags
    assert (await texter.audit_actions()).count("alert.opened") == 1


async def test_risk_words_reach_a_queued_conversation(texter: Texter) -> None:
    """Test that the lexicon still runs after handover, while a volunteer has the case."""
    await texter.send("hi")
    await texter.send("talk to someone")
    assert (await texter.conversation()).status == "queued"
    assert await texter.send("hes hitting me again pls send someone") == []
    conversation = await texter.conversation()
    assert conversation.priority == "urgent"


async def test_talk_to_a_person_goes_straight_to_the_queue(texter: Texter) -> None:
    """Test that 'talk to a person' mid-flow queues the conversation at once."""
    await texter.send("hi")
    await texter.send("can i talk to a person")
    assert (await texter.conversation()).status == "queued"


async def test_reminder_and_expiry_fire_from_durable_timers(texter: Texter) -> None:
    """Test that silence brings a reminder, then the expiry path, through the job runner."""
    await texter.send("hi")
    reminder = await texter.fire_timer("reminder")
    assert any("safe right now" in r.lower() for r in reminder)
    await texter.fire_timer("expire")
    assert (await texter.conversation()).status == "queued"


async def test_reply_cancels_the_pending_reminder(texter: Texter) -> None:
    """Test that answering before the reminder is due means no reminder is sent."""
    await texter.send("hi")
    await texter.send("yes")
    texter.clock.advance(3600 * 3)
    await texter.client.app[appkeys.JOBS].run_once()
    await texter.client.app[appkeys.JOBS].long_work_done()  # a purge runs in a task of its own
    replies = await texter.received()
    assert all("safe right now" not in r.lower() for r in replies)


async def test_free_text_answers_are_stored_encrypted(texter: Texter) -> None:
    """Test that a free-text answer is kept encrypted and never among the results."""
    texter.client.app[appkeys.TRIAGE].flow_for_channel = {"sms": "webchat_triage"}
    await texter.send("hi")
    await texter.send("yes")
    await texter.send("my stepdad took my passport")
    conversation = await texter.conversation()
    assert conversation.answers_enc is not None
    assert "passport" not in conversation.answers_enc
    assert all("passport" not in str(v) for v in conversation.results.values())
    cipher = texter.client.app[appkeys.KEYS].cipher
    assert "passport" in " ".join(json.loads(cipher.decrypt(conversation.answers_enc)).values())


async def test_first_text_asking_for_a_person_is_queued_at_once(texter: Texter) -> None:
    """Test that a first text asking for a person is greeted and queued straight away."""
    replies = await texter.send("i want to talk to someone")
    assert "STOP" in replies[0]
    assert any("text you back" in r for r in replies)
    assert (await texter.conversation()).status == "queued"


async def test_person_asked_for_after_the_flow_ended_is_queued(texter: Texter) -> None:
    """Test that after a flow ended without handover, asking for a person queues the case."""
    for text in ("hi", "yes", "3", "no", "no"):
        await texter.send(text)
    conversation = await texter.conversation()
    assert conversation.flow_state["ended"] and conversation.status == "open"
    replies = await texter.send("actually can i speak to someone")
    assert all("STOP" not in r for r in replies)
    assert (await texter.conversation()).status == "queued"


async def test_a_disclosure_answers_the_safety_question(texter: Texter) -> None:
    """Test that 'are you safe?' answered with a disclosure gets 999 advice, not a retry."""
    await texter.send("hi")
    replies = await texter.send("i want to kill myself")
    assert any("999" in r for r in replies)
    assert not any("didn't get that" in r for r in replies)
    conversation = await texter.conversation()
    assert (conversation.priority, conversation.status) == ("urgent", "queued")


async def test_a_disclosure_at_a_later_question_is_not_taken_as_its_answer(
        texter: Texter) -> None:
    """Test that "no, i want to die" to 'do you want to talk?' gets 999 advice, not 'OK'."""
    for text in ("hi", "yes", "2", "yes"):
        await texter.send(text)
    replies = await texter.send("no i want to kill myself")
    assert any("999" in r for r in replies)
    assert not any("any time" in r for r in replies)
    assert "wants_to_talk" not in (await texter.conversation()).results


async def test_a_first_text_disclosing_danger_gets_999_advice(texter: Texter) -> None:
    """Test that a first text rated urgent gets the greeting and then 999 advice at once."""
    replies = await texter.send("im going to kill myself tonight")
    assert "confidential" in replies[0]
    assert any("999" in r for r in replies[1:])
    assert (await texter.conversation()).status == "queued"
