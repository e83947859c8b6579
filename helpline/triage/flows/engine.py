"""Run a flow: a pure state machine from (state, reply or timer, context) to a Step.

No database and no network: the caller stores ``Step.state`` as JSON, turns
``Step.timers`` into durable timers, encrypts ``Step.free_text`` and sends
``Step.replies`` through the outbox. Nothing here logs message text or answers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from helpline.triage.flows.language import LanguageGuesser
from helpline.triage.flows.loader import FlowError, FlowRegistry
from helpline.triage.flows.matching import Facts, Reply, case_matches, tokens
from helpline.triage.flows.models import (
    AskNode,
    BranchNode,
    ChooseLanguageNode,
    EndNode,
    Flow,
    HandoverNode,
    Other,
    SendNode,
    SetNode,
    Text,
)
from helpline.triage.priority import Priority

log = logging.getLogger(__name__)

STATE_FORMAT = 1
MAX_HOPS = 200
"""Nodes visited in one step before the engine gives up and hands over (loops are refused)."""
TIMER_KINDS = ("reminder", "expire")


@dataclass(frozen=True)
class FlowContext:
    """What the flow may know about the world right now."""

    open_now: bool = True
    opens_at: str | None = None  # when people are back, e.g. "09:00" or "26/12 09:00"
    channel: str = "sms"
    risk: Priority | None = None  # the risk lexicon's rating of the message being handled


@dataclass
class Step:
    """What the caller must do after one event; ``state`` replaces the stored state."""

    replies: list[str]
    state: dict
    priority: Priority | None = None  # raised to this (never lowered); None: unchanged
    flags: set[str] = field(default_factory=set)  # flags added by this step
    results: dict[str, str] = field(default_factory=dict)  # results recorded by this step
    free_text: dict[str, str] = field(default_factory=dict)  # encrypt; never statistics
    handover: Priority | None = None  # not None: queue for a volunteer at this priority
    ended: bool = False
    timers: list[tuple[str, float]] = field(default_factory=list)  # (name, seconds from now)
    stale: bool = False  # True: the event was out of date; nothing changed, keep old timers
    language: str | None = None  # the conversation's language (also in state)
    digits: int | None = None  # voice: key presses to gather for the question now waiting


def timer_kind(name: str) -> str:
    """Return ``reminder`` or ``expire`` for a timer name such as ``reminder:ask_safe:3``."""
    return name.split(":", 1)[0]


class FlowEngine:
    """Start flows and move them on; deterministic for a given registry, state and input."""

    def __init__(self, registry: FlowRegistry, *, guesser: LanguageGuesser | None = None) -> None:
        """Use ``registry`` for flows; the language detector is built on first need."""
        self.registry = registry
        self.guesser = guesser or LanguageGuesser()

    # -- public interface -------------------------------------------------------------

    def start(
        self,
        *,
        flow_id: str,
        first_text: str | None,
        context: FlowContext,
        language: str | None = None,
    ) -> Step:
        """Start the latest version of a flow, in ``language`` or the first message's language."""
        flow = self.registry.get(flow_id)
        if language not in flow.languages:
            language = self.guesser.guess(first_text, flow.languages, flow.default_language)
        state = {
            "format": STATE_FORMAT,
            "flow": flow.id,
            "version": flow.version,
            "language": language,
            "node": flow.start,
            "seq": 0,
            "priority": None,
            "results": {},
            "flags": [],
            "handed_over": False,
            "ended": False,
        }
        step = Step(replies=[], state=state, language=language)
        log.info("flow %s v%s started in %s", flow.id, flow.version, language)
        self._run(flow, step, flow.start, None, context)
        return step

    def handle_reply(self, state: dict, text: str, *, context: FlowContext) -> Step:
        """Move the flow on with the young person's reply to the question it waits at."""
        flow = self._flow(state)
        step = Step(replies=[], state=_copy(state), language=state["language"])
        if state.get("ended"):
            step.ended = True
            return step
        node_id = state["node"]
        node = flow.nodes[node_id]
        reply = Reply(text)
        for name, interrupt in flow.interrupts.items():
            if not state.get("handed_over") and interrupt.matches(reply.words, context.risk):
                log.info("flow %s: interrupt %s at %s", flow.id, name, node_id)
                self._run(flow, step, interrupt.goto, None, context)
                return step
        if isinstance(node, ChooseLanguageNode):
            picked = pick_language(flow, reply)
            if picked is not None:
                self._set_language(step, picked)
            self._run(flow, step, node.next, None, context)
        elif isinstance(node, AskNode):
            if node.offer_languages and (picked := pick_language(flow, reply)) is not None:
                self._set_language(step, picked)
                self._run(flow, step, node_id, None, context)  # ask again, in that language
                return step
            self._answer(flow, step, node_id, node, reply, context)
        else:  # a state always rests at a question; anything else is a corrupt state
            raise FlowError([f'flow "{flow.id}": state rests at node "{node_id}", not a question'])
        return step

    def handle_timer(self, state: dict, timer: str, *, context: FlowContext) -> Step:
        """Send the reminder or follow the timeout; a stale timer changes nothing."""
        step = Step(replies=[], state=state, stale=True, language=state.get("language"))
        kind, _, rest = timer.partition(":")
        node_id, _, seq = rest.rpartition(":")
        if (
            state.get("ended")
            or kind not in TIMER_KINDS
            or node_id != state.get("node")
            or seq != str(state.get("seq"))
        ):
            log.info("flow timer %s is stale", kind)
            return step
        flow = self._flow(state)
        node = flow.nodes[node_id]
        timeout = getattr(node, "timeout", None)
        if timeout is None:
            return step
        step = Step(replies=[], state=_copy(state), language=state["language"])
        if kind == "reminder":
            step.replies.append(self._text(flow, step, timeout.reminder, context))
            if timeout.expire_after is not None:
                remaining = timeout.expire_after - (timeout.reminder_after or 0)
                step.timers.append((f"expire:{node_id}:{seq}", max(remaining, 0.0)))
            return step
        log.info("flow %s: question %s expired", flow.id, node_id)
        self._run(flow, step, timeout.goto, None, context)
        return step

    def interrupts(self, flow_id: str, text: str, *, context: FlowContext) -> bool:
        """Return whether ``text`` sets off one of the flow's interrupts (a first text too)."""
        words = Reply(text).words
        return any(interrupt.matches(words, context.risk)
                   for interrupt in self.registry.get(flow_id).interrupts.values())

    def danger_advice(self, flow_id: str) -> dict[str, str]:
        """Return, per language, what the flow first sends a child in danger.

        That is the text of the node its urgent-risk interrupt goes to ({} if none).
        """
        flow = self.registry.get(flow_id)
        for interrupt in flow.interrupts.values():
            if interrupt.risk == "urgent":
                send = getattr(flow.nodes.get(interrupt.goto), "send", None)
                return {lang: text for lang in flow.languages
                        if (text := flow.text(send, lang))}
        return {}

    def talk_to_person_phrases(self, flow_id: str) -> dict[str, list[str]]:
        """Return, per language, the phrases meaning "talk to a person" in a flow."""
        flow = self.registry.get(flow_id)
        interrupt = flow.interrupts.get("talk_to_person")
        if interrupt is None:
            return {}
        phrases = interrupt.phrases or []
        if isinstance(phrases, dict):
            return {lang: list(ps) for lang, ps in phrases.items()}
        return {lang: list(phrases) for lang in flow.languages}

    # -- running nodes ------------------------------------------------------------------

    def _flow(self, state: dict) -> Flow:
        return self.registry.get(state["flow"], state["version"])

    def _answer(self, flow: Flow, step: Step, node_id: str, node: AskNode, reply: Reply,
                context: FlowContext) -> None:  # fmt: skip
        save = node.save_as
        if save is not None and (name := save.free_text_name(node_id)) is not None:
            step.free_text[name] = reply.raw.strip()
        if not node.cases:
            self._run(flow, step, node.next, reply, context)
            return
        target, value = self._choose(flow, step, node.cases, node.other, reply, context)
        if save is not None and save.result and value is not None:
            self._record(step, save.result, value)
        self._run(flow, step, target, reply, context)

    def _choose(self, flow: Flow, step: Step, cases: list, other: str | Other | None,
                reply: Reply | None, context: FlowContext) -> tuple[str, str | None]:  # fmt: skip
        state = step.state
        facts = Facts(context.open_now, state["results"], frozenset(state["flags"]))
        for case in cases:
            if case_matches(case, reply, state["language"], facts):
                return case.goto, case.value
        if isinstance(other, Other):
            return other.goto, other.value
        if other is None:  # the checker forbids this; stay safe at run time
            raise FlowError([f'flow "{flow.id}": a branch has no `other` fallback'])
        return other, None

    def _run(self, flow: Flow, step: Step, node_id: str | None, reply: Reply | None,
             context: FlowContext) -> None:  # fmt: skip
        state = step.state
        for _ in range(MAX_HOPS):
            if node_id is None:
                self._end(step)
                return
            node = flow.nodes[node_id]
            state["node"] = node_id
            if isinstance(node, SendNode):
                step.replies.append(self._text(flow, step, node.send, context))
                node_id = node.next
            elif isinstance(node, AskNode | ChooseLanguageNode):
                text = node.ask if isinstance(node, AskNode) else node.choose_language
                step.replies.append(self._text(flow, step, text, context))
                self._wait(step, node_id, node)
                return
            elif isinstance(node, BranchNode):
                node_id, _ = self._choose(flow, step, node.branch, node.other, reply, context)
            elif isinstance(node, SetNode):
                if node.set.priority is not None:
                    self._raise(step, node.set.priority)
                for flag in node.set.flags:
                    if flag not in state["flags"]:
                        state["flags"].append(flag)
                        step.flags.add(flag)
                for name, value in node.set.results.items():
                    self._record(step, name, value)
                node_id = node.next
            elif isinstance(node, HandoverNode):
                if node.handover.priority is not None:
                    self._raise(step, node.handover.priority)
                step.handover = Priority(state["priority"] or Priority.STANDARD)
                state["handed_over"] = True
                if node.send is not None:
                    step.replies.append(self._text(flow, step, node.send, context))
                log.info("flow %s: handover at %s (%s)", flow.id, node_id, step.handover)
                node_id = node.next
            elif isinstance(node, EndNode):
                if node.end not in (None, True, False):
                    step.replies.append(self._text(flow, step, node.end, context))
                self._end(step)
                return
        log.error("flow %s: too many nodes in one step at %s; handing over", flow.id, node_id)
        step.handover = Priority(state["priority"] or Priority.STANDARD)
        state["handed_over"] = True
        self._end(step)

    def _wait(self, step: Step, node_id: str, node: AskNode | ChooseLanguageNode) -> None:
        state = step.state
        state["seq"] = seq = int(state.get("seq", 0)) + 1
        step.digits = node.digits
        timeout = node.timeout
        if timeout is None:
            return
        if timeout.reminder_after is not None and timeout.reminder is not None:
            step.timers.append((f"reminder:{node_id}:{seq}", float(timeout.reminder_after)))
        if timeout.expire_after is not None and timeout.goto:
            step.timers.append((f"expire:{node_id}:{seq}", float(timeout.expire_after)))

    def _end(self, step: Step) -> None:
        step.state["ended"] = True
        step.ended = True

    def _raise(self, step: Step, priority: Priority) -> None:
        current = step.state["priority"]
        raised = priority.raised_to(Priority(current)) if current else priority
        if raised != current:
            step.state["priority"] = raised.value
            step.priority = raised

    def _record(self, step: Step, name: str, value: str) -> None:
        step.state["results"][name] = value
        step.results[name] = value

    def _set_language(self, step: Step, language: str) -> None:
        step.state["language"] = step.language = language

    def _text(self, flow: Flow, step: Step, text: Text | None, context: FlowContext) -> str:
        out = flow.text(text, step.state["language"])
        if "{" in out:
            out = out.replace("{language_menu}", flow.language_menu_text())
            out = out.replace("{opens_at}", context.opens_at or "")
        return out


def pick_language(flow: Flow, reply: Reply) -> str | None:
    """Return the language picked by menu number or by name, or None."""
    menu = flow.language_menu
    number = reply.choice()
    if number is not None and len(reply.words) == 1:
        return menu[number - 1] if 1 <= number <= len(menu) else None
    for code, name in flow.languages.items():
        if reply.words and reply.words == tokens(name):
            return code
    return None


def _copy(state: dict) -> dict:
    out = dict(state)
    out["results"] = dict(state.get("results", {}))
    out["flags"] = list(state.get("flags", []))
    return out
