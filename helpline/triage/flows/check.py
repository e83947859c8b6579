"""Find problems in flow files, in words a flow author understands."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

from helpline.triage.flows import matching
from helpline.triage.flows.language import lingua_language
from helpline.triage.flows.models import (
    NODE_KINDS,
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
    Timeout,
)


@dataclass(frozen=True)
class Problem:
    """One problem in one flow file; ``error`` stops the file loading, ``warning`` does not."""

    file: str
    message: str
    node: str | None = None
    field: str | None = None
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        """Return e.g. ``flows/sms.yaml: node "ask_safe": field "timeout.goto": ...``."""
        parts = [self.file]
        if self.node is not None:
            parts.append(f'node "{self.node}"')
        if self.field is not None:
            parts.append(f'field "{self.field}"')
        return ": ".join([*parts, self.message])


_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a known field (check the spelling)",
    "string_type": "must be text",
    "dict_type": "must be a mapping (name: value)",
    "list_type": "must be a list",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_pattern_mismatch": "may only contain letters, digits, '_', '-' and '.'",
    "model_type": "must be a mapping of fields",
    "model_attributes_type": "must be a mapping of fields",
}
_TYPE_NAMES = {"str", "int", "float", "bool", "dict", "list", "tuple", "none"}


def _plain(error: dict) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind in ("literal_error", "enum"):
        return f"must be one of: {ctx.get('expected', '')}".replace("'", "")
    if kind == "greater_than":
        return f"must be more than {ctx.get('gt')}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}"
    if kind == "too_short":
        return "must not be empty"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _field_path(parts: tuple) -> str | None:
    words: list[str] = []
    for part in parts:
        if isinstance(part, int):
            words.append(f"#{part + 1}")
        elif part.lower() in _TYPE_NAMES or "[" in part or "function-" in part:
            continue  # the name of a union member, meaningless to a flow author
        else:
            words.append(("." if words else "") + part)
    return "".join(words) or None


def validation_problems(file: str, error: ValidationError) -> list[Problem]:
    """Turn pydantic's errors into problems naming the node and the field."""
    problems: dict[tuple, Problem] = {}
    for err in error.errors():
        loc = tuple(err["loc"])
        node = None
        if len(loc) >= 2 and loc[0] == "nodes":
            node, loc = str(loc[1]), loc[2:]
            if loc and loc[0] in NODE_KINDS:
                loc = loc[1:] if len(loc) > 1 else loc  # drop the union tag
        field = _field_path(loc)
        problems.setdefault((node, field), Problem(file, _plain(err), node, field))
    return list(problems.values())


def _texts(flow: Flow) -> Iterator[tuple[str, str, Text]]:
    """Yield (node, field, text) for every text the flow can send."""
    for node_id, node in flow.nodes.items():
        if isinstance(node, SendNode):
            yield node_id, "send", node.send
        elif isinstance(node, AskNode):
            yield node_id, "ask", node.ask
        elif isinstance(node, ChooseLanguageNode):
            yield node_id, "choose_language", node.choose_language
        elif isinstance(node, HandoverNode) and node.send is not None:
            yield node_id, "send", node.send
        elif isinstance(node, EndNode) and not isinstance(node.end, bool | None):
            yield node_id, "end", node.end
        timeout = getattr(node, "timeout", None)
        if timeout is not None and timeout.reminder is not None:
            yield node_id, "timeout.reminder", timeout.reminder


def targets(node: object) -> Iterator[tuple[str, str]]:
    """Yield (field, node id) for every node that ``node`` can go to."""
    if getattr(node, "next", None):
        yield "next", node.next
    cases = node.branch if isinstance(node, BranchNode) else getattr(node, "cases", None)
    label = "branch" if isinstance(node, BranchNode) else "cases"
    for i, case in enumerate(cases or (), 1):
        yield f"{label}#{i}.goto", case.goto
    other = getattr(node, "other", None)
    if other is not None:
        yield "other", other.goto if isinstance(other, Other) else other
    timeout = getattr(node, "timeout", None)
    if timeout is not None and timeout.goto:
        yield "timeout.goto", timeout.goto


def _waits(node: object) -> bool:
    return isinstance(node, AskNode | ChooseLanguageNode)


def lint(flow: Flow, file: str) -> list[Problem]:
    """Return every problem the schema alone cannot see."""
    out: list[Problem] = []

    def problem(message: str, node: str | None = None, field: str | None = None, *,
                warning: bool = False) -> None:  # fmt: skip
        out.append(Problem(file, message, node, field, "warning" if warning else "error"))

    for code in flow.languages:
        if lingua_language(code) is None:
            problem(f'"{code}" is not a two-letter ISO 639-1 language code', None, "languages")
        elif code not in matching.YES:
            problem(f'the yes/no test knows no words in "{code}"; only English ones will work',
                    None, "languages", warning=True)  # fmt: skip
    for code in flow.review:
        if code not in flow.languages:
            problem(f'"{code}" is not one of the flow\'s languages', None, "review", warning=True)

    # Where each node can go.
    if flow.start not in flow.nodes:
        problem(f'the start node "{flow.start}" does not exist', None, "start")
    for name, interrupt in flow.interrupts.items():
        if interrupt.goto not in flow.nodes:
            problem(f'goes to node "{interrupt.goto}", which does not exist',
                    None, f"interrupts.{name}.goto")  # fmt: skip
    for node_id, node in flow.nodes.items():
        for field, target in targets(node):
            if target not in flow.nodes:
                problem(f'goes to node "{target}", which does not exist', node_id, field)
        out.extend(_node_problems(flow, file, node_id, node))

    # Unreachable nodes.
    seen: set[str] = set()
    todo = [flow.start] + [i.goto for i in flow.interrupts.values()]
    while todo:
        node_id = todo.pop()
        if node_id in seen or node_id not in flow.nodes:
            continue
        seen.add(node_id)
        todo.extend(t for _, t in targets(flow.nodes[node_id]))
    for node_id in flow.nodes:
        if node_id not in seen:
            problem("can never be reached from the start node", node_id, warning=True)

    # Loops that never wait for a reply would spin for ever.
    out.extend(_loops(flow, file))

    # Translations.
    for node_id, field, text in _texts(flow):
        given = {flow.default_language: text} if isinstance(text, str) else text
        if flow.default_language not in given:
            problem(f"has no text in the default language ({flow.default_language})",
                    node_id, field)  # fmt: skip
        missing = [code for code in flow.languages if code not in given]
        if missing:
            problem(f"missing translation for {', '.join(missing)}", node_id, field, warning=True)
        unknown = [code for code in given if code not in flow.languages]
        if unknown:
            problem(f"text in {', '.join(unknown)}, which is not one of the flow's languages",
                    node_id, field, warning=True)  # fmt: skip
    return out


def _node_problems(flow: Flow, file: str, node_id: str, node: object) -> list[Problem]:
    out: list[Problem] = []
    cases = node.branch if isinstance(node, BranchNode) else getattr(node, "cases", None)
    if isinstance(node, BranchNode) and node.other is None:
        out.append(Problem(file, "branch has no `other` fallback: a reply matching no case "
                           "would have nowhere to go", node_id, "other"))  # fmt: skip
    if isinstance(node, AskNode):
        if node.cases and node.other is None:
            out.append(Problem(file, "has cases but no `other` fallback: a reply matching no "
                               "case would have nowhere to go", node_id, "other"))  # fmt: skip
        if not node.cases and not node.next:
            out.append(Problem(file, "needs `next` or `cases` to know where to go after the "
                               "reply", node_id))  # fmt: skip
        if node.cases and node.next:
            out.append(Problem(file, "give either `next` or `cases`, not both", node_id, "next"))
        if node.save_as is not None and node.save_as.result:
            if not node.cases:
                out.append(
                    Problem(
                        file,
                        "a named result takes its value from the matching "
                        "case: add `cases` with a `value`",
                        node_id,
                        "save_as.result",
                    )
                )
            for i, case in enumerate(node.cases or (), 1):
                if case.value is None:
                    out.append(
                        Problem(
                            file,
                            "the answer is saved as a result, so each case needs a `value`",
                            node_id,
                            f"cases#{i}.value",
                        )
                    )
    elif cases is not None and any(c.value is not None for c in cases):
        out.append(Problem(file, "case values are only kept by an `ask` with `save_as`",
                           node_id, warning=True))  # fmt: skip
    if isinstance(node, SendNode | SetNode | ChooseLanguageNode) and not node.next:
        out.append(Problem(file, "needs `next`: where to go afterwards", node_id, "next"))
    timeout: Timeout | None = getattr(node, "timeout", None)
    if timeout is not None:
        out.extend(_timeout_problems(file, node_id, timeout))
    return out


def _timeout_problems(file: str, node_id: str, t: Timeout) -> list[Problem]:
    out: list[Problem] = []

    def add(message: str, field: str) -> None:
        out.append(Problem(file, message, node_id, f"timeout.{field}"))

    if t.expire_after is not None and not t.goto:
        add("the question expires but has nowhere to go: add `goto`", "goto")
    if t.goto and t.expire_after is None:
        add("`goto` needs `expire_after`: after how many seconds to go there", "expire_after")
    if t.reminder_after is not None and t.reminder is None:
        add("a reminder time is given but no reminder text", "reminder")
    if t.reminder is not None and t.reminder_after is None:
        add("a reminder text is given but not when to send it", "reminder_after")
    if t.reminder_after is None and t.expire_after is None:
        add("a timeout needs `reminder_after` or `expire_after`", "expire_after")
    if t.reminder_after and t.expire_after and t.reminder_after >= t.expire_after:
        add("the reminder must come before the question expires", "reminder_after")
    return out


def _loops(flow: Flow, file: str) -> list[Problem]:
    """Report cycles that pass no question: the engine would go round them for ever."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    out: list[Problem] = []

    def visit(node_id: str) -> None:
        state[node_id] = 1
        node = flow.nodes[node_id]
        if not _waits(node):
            for _, target in targets(node):
                if target not in flow.nodes or _waits(flow.nodes[target]):
                    continue
                if state.get(target) == 1:
                    out.append(Problem(file, f'goes round in a loop back to "{target}" without '
                                       "asking anything", node_id))  # fmt: skip
                elif target not in state:
                    visit(target)
        state[node_id] = 2

    for node_id in flow.nodes:
        if node_id not in state:
            visit(node_id)
    return out
