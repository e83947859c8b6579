"""The golden SMS transcripts, run through the whole service instead of the bare engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from helpline import appkeys
from helpline.app import create_app
from helpline.clock import FrozenClock
from helpline.outbox.providers import LoopbackProvider
from helpline.settings import Settings
from helpline.triage.lexicon import RiskLexicon
from tests.flows.transcripts import DIRECTORY, Transcript, load
from tests.service.helpers import CLOSED_TIME, OPEN_TIME, Texter

SMS_TRANSCRIPTS = [p for p in sorted(DIRECTORY.glob("*.yaml")) if load(p).flow == "sms_triage"]


def expectations(transcript: Transcript, expect: list[str], opens_at: str | None) -> list[str]:
    """Return the expected substrings, with the transcript's opening time made the service's."""
    wanted = transcript.context.opens_at
    return [e.replace(wanted, opens_at or "") if wanted else e for e in expect]


@pytest.mark.parametrize("path", SMS_TRANSCRIPTS, ids=lambda p: p.stem)
async def test_transcript_through_the_service(aiohttp_client: Any, settings: Settings,
                                              lexicon: RiskLexicon, path: Path) -> None:
    """Test that a golden transcript gives the same replies and state through the service."""
    transcript = load(path)
    clock = FrozenClock(OPEN_TIME if transcript.context.open_now else CLOSED_TIME)
    loopback = LoopbackProvider(clock=clock)
    client: TestClient = await aiohttp_client(create_app(
        settings, clock=clock, provider=loopback, lexicon=lexicon, run_workers=False))
    texter = Texter(client, loopback, clock)
    triage = client.app[appkeys.TRIAGE]
    triage.forced_language = transcript.language
    opens_at = triage.hours.describe_next(clock.now())
    replies = await texter.send(transcript.first_text or "hi")
    problems = _missing("start", replies, expectations(transcript, transcript.expect, opens_at))
    for i, step in enumerate(transcript.steps, 1):
        if step.reply is not None:
            replies = await texter.send(step.reply)
        else:
            replies = await texter.fire_timer(step.timer or "")
        problems += _missing(f"step {i}", replies, expectations(transcript, step.expect, opens_at))
        if step.expect_nothing and replies:
            problems.append(f"step {i}: expected no reply, got {replies!r}")
    conversation = await texter.conversation()
    final = transcript.final
    if final.priority is not None and conversation.priority != final.priority:
        problems.append(f"priority {conversation.priority} != {final.priority}")
    if final.handover is not None and conversation.status != "queued":
        problems.append(f"status {conversation.status}, expected queued")
    if final.results is not None and conversation.results != final.results:
        problems.append(f"results {conversation.results} != {final.results}")
    if final.language is not None and conversation.language != final.language:
        problems.append(f"language {conversation.language} != {final.language}")
    if final.flags is not None and not set(final.flags) <= set(conversation.flags):
        problems.append(f"flags {conversation.flags} lack {final.flags}")
    assert problems == []


def _missing(where: str, replies: list[str], expect: list[str]) -> list[str]:
    text = "\n".join(replies).casefold()
    return [f"{where}: expected {e!r} in {replies!r}" for e in expect if e.casefold() not in text]
