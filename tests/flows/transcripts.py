"""Golden transcripts: YAML conversations run through the flow engine.

Format of ``tests/flows/transcripts/*.yaml`` (the full service may run the same files)::

    name: unsafe young person gets 999 advice and an urgent handover
    flow: sms_triage
    context: {open_now: true, opens_at: null, channel: sms}   # optional
    first_text: hi                  # optional; used for language detection
    language: null                  # optional; forces the language
    expect: [free, STOP]            # substrings of the replies to the first message
    steps:
      - reply: "no"                 # the young person's text ...
        expect: ["999"]
      - timer: reminder             # ... or a timer firing (reminder | expire)
        expect_nothing: true        # no reply at all
        context: {open_now: false}  # optional change of context from here on
    final: {priority: urgent, handover: urgent, results: {safe_now: "no"},
            flags: [danger_now], language: en, ended: true, free_text: [name]}

Substrings match case-insensitively against all replies of that step. As in flow
files, ``yes`` and ``no`` are read as words, not as booleans.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from helpline.triage.flows.engine import FlowContext, FlowEngine, Step, timer_kind
from helpline.triage.flows.loader import load_yaml

DIRECTORY = Path(__file__).parent / "transcripts"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Context(_Strict):
    """The context a step runs in."""

    open_now: bool = True
    opens_at: str | None = None
    channel: str = "sms"


class TranscriptStep(_Strict):
    """One thing that happens: a reply or a timer, and what must be sent back."""

    reply: str | None = None
    timer: Literal["reminder", "expire"] | None = None
    context: Context | None = None
    expect: list[str] = []
    expect_nothing: bool = False

    @model_validator(mode="after")
    def _one_event(self) -> TranscriptStep:
        if (self.reply is None) == (self.timer is None):
            raise ValueError("give either `reply` or `timer`")
        return self


class Final(_Strict):
    """What must hold at the end of the transcript."""

    priority: str | None = None
    handover: str | None = None
    results: dict[str, str] | None = None
    flags: list[str] | None = None
    language: str | None = None
    ended: bool | None = None
    free_text: list[str] | None = None


class Transcript(_Strict):
    """A whole conversation with the flow."""

    name: str
    flow: str
    context: Context = Context()
    first_text: str | None = None
    language: str | None = None
    expect: list[str] = []
    steps: list[TranscriptStep] = []
    final: Final = Final()


def load(path: Path) -> Transcript:
    """Read one transcript file."""
    return Transcript.model_validate(load_yaml(path.read_text(encoding="utf-8")))


def _check_replies(where: str, step: Step, expect: list[str], nothing: bool) -> list[str]:
    text = "\n".join(step.replies).casefold()
    problems = [f"{where}: expected {e!r} in {step.replies!r}" for e in expect
                if e.casefold() not in text]  # fmt: skip
    if nothing and step.replies:
        problems.append(f"{where}: expected no reply, got {step.replies!r}")
    return problems


def run(engine: FlowEngine, transcript: Transcript) -> list[str]:
    """Run ``transcript`` through ``engine``; return what differs from the expectations."""
    ctx = transcript.context
    context = FlowContext(**ctx.model_dump())
    step = engine.start(flow_id=transcript.flow, first_text=transcript.first_text,
                        context=context, language=transcript.language)  # fmt: skip
    problems = _check_replies("start", step, transcript.expect, False)
    steps = [step]
    for i, event in enumerate(transcript.steps, 1):
        if event.context is not None:
            context = FlowContext(**event.context.model_dump())
        if event.reply is not None:
            step = engine.handle_reply(step.state, event.reply, context=context)
        else:
            names = [n for n, _ in step.timers if timer_kind(n) == event.timer]
            if not names:
                problems.append(f"step {i}: no {event.timer} timer is pending")
                break
            step = engine.handle_timer(step.state, names[0], context=context)
        steps.append(step)
        problems += _check_replies(f"step {i}", step, event.expect, event.expect_nothing)
    final, state = transcript.final, step.state
    handovers = [s.handover for s in steps if s.handover is not None]
    actual = {
        "priority": state["priority"],
        "handover": handovers[-1].value if handovers else None,
        "results": state["results"],
        "flags": sorted(state["flags"]),
        "language": state["language"],
        "ended": state["ended"],
        "free_text": sorted({k for s in steps for k in s.free_text}),
    }
    for key, want in final.model_dump(exclude_unset=True).items():
        got = actual[key]
        if key in ("flags", "free_text"):
            want = sorted(want)
        if got != want:
            problems.append(f"final {key}: expected {want!r}, got {got!r}")
    return problems
