"""The flow file format: pydantic models for one flow per YAML file.

A node is a mapping whose kind is named by the one kind key it carries
(``send``, ``ask``, ``choose_language``, ``branch``, ``set``, ``handover`` or
``end``). Every text is either a plain string (the default language) or a
mapping of language code to string.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    field_validator,
    model_validator,
)

from helpline.triage.flows import matching
from helpline.triage.priority import Priority

NodeId = Annotated[str, Field(min_length=1)]
Text = str | dict[str, str]
"""A text: one string in the default language, or language code -> string."""
Words = list[str] | dict[str, list[str]]
"""Words or phrases: one list for every language, or language code -> list."""

NODE_KINDS = ("send", "ask", "choose_language", "branch", "set", "handover", "end")
CASE_TESTS = (
    "means", "any", "all", "phrase", "number", "range", "choice", "regex",
    "open_now", "result", "flag",
)  # fmt: skip


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def words_of(words: Words | None) -> list[str]:
    """Return every word or phrase in ``words``, whatever its language."""
    if words is None:
        return []
    if isinstance(words, dict):
        return [w for ws in words.values() for w in ws]
    return list(words)


class Case(_Strict):
    """One case of a branch: it matches when ANY of its tests matches."""

    goto: NodeId
    value: str | None = None
    means: Literal["yes", "no"] | None = None
    any: Words | None = None
    all: Words | None = None
    phrase: Words | str | None = None
    number: int | None = None
    range: tuple[int, int] | None = None
    choice: int | None = None
    regex: str | None = None
    open_now: bool | None = None
    result: dict[str, str] | None = None
    flag: str | None = None

    _any: list[tuple[str, ...]] = PrivateAttr(default_factory=list)
    _all: list[tuple[str, ...]] = PrivateAttr(default_factory=list)
    _phrase: list[tuple[str, ...]] = PrivateAttr(default_factory=list)
    _regex: re.Pattern[str] | None = PrivateAttr(default=None)

    @field_validator("regex")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"is not a valid regular expression ({exc})") from None
        return value

    @field_validator("range")
    @classmethod
    def _range_ordered(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and value[0] > value[1]:
            raise ValueError("must be [lowest, highest], e.g. [13, 15]")
        return value

    @model_validator(mode="after")
    def _has_a_test(self) -> Case:
        if all(getattr(self, name) is None for name in CASE_TESTS):
            raise ValueError(f"a case needs at least one test: {', '.join(CASE_TESTS)}")
        return self

    def model_post_init(self, __context: Any) -> None:
        """Prepare the normalised words once, so matching a reply stays fast."""
        self._any = [matching.tokens(w) for w in words_of(self.any)]
        self._all = [matching.tokens(w) for w in words_of(self.all)]
        phrases = [self.phrase] if isinstance(self.phrase, str) else words_of(self.phrase)
        self._phrase = [matching.tokens(p) for p in phrases]
        if self.regex is not None:
            self._regex = re.compile(self.regex, re.IGNORECASE)


class Other(_Strict):
    """Where a reply goes when no case matches, optionally with a result value."""

    goto: NodeId
    value: str | None = None


class SaveAs(_Strict):
    """Keep the answer: a named result (value from the case) or an encrypted free text."""

    result: str | None = None
    free_text: str | bool | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> SaveAs:
        if (self.result is None) == (self.free_text in (None, False)):
            raise ValueError("give either `result: <name>` or `free_text: <name>`, not both")
        return self

    def free_text_name(self, node_id: str) -> str | None:
        """Return the name a free-text answer is kept under (the node's id for ``true``)."""
        if self.free_text in (None, False):
            return None
        return node_id if self.free_text is True else str(self.free_text)


class Timeout(_Strict):
    """What happens when nobody replies to a question."""

    reminder_after: float | None = Field(default=None, gt=0)
    reminder: Text | None = None
    expire_after: float | None = Field(default=None, gt=0)
    goto: NodeId | None = None


class SendNode(_Strict):
    """Send a message, then go on."""

    send: Text
    next: NodeId | None = None


class AskNode(_Strict):
    """Send a question and wait for the reply."""

    ask: Text
    next: NodeId | None = None
    cases: list[Case] | None = None
    other: NodeId | Other | None = None
    save_as: SaveAs | None = None
    timeout: Timeout | None = None
    offer_languages: bool = False
    digits: int | None = Field(default=None, ge=1)


class ChooseLanguageNode(_Strict):
    """Offer the language menu and switch to the language picked by number or name."""

    choose_language: Text
    next: NodeId | None = None
    timeout: Timeout | None = None
    digits: int | None = Field(default=None, ge=1)


class BranchNode(_Strict):
    """Go to the first case that matches the last reply (or the context)."""

    branch: list[Case]
    other: NodeId | Other | None = None


class SetValues(_Strict):
    """Values a `set` node records."""

    priority: Priority | None = None
    flags: list[str] = []
    results: dict[str, str] = {}


class SetNode(_Strict):
    """Raise the priority, add flags or record named results."""

    set: SetValues
    next: NodeId | None = None


class HandoverValues(_Strict):
    """How the conversation is put in the volunteer queue."""

    priority: Priority | None = None


class HandoverNode(_Strict):
    """Put the conversation in the volunteer queue; the flow ends unless `next` is given."""

    handover: HandoverValues
    send: Text | None = None
    next: NodeId | None = None


class EndNode(_Strict):
    """End the flow, optionally with a last message."""

    end: Text | bool | None = None


def _node_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        kinds = [k for k in NODE_KINDS if k in value]
        if "handover" in kinds:
            return "handover"
        return kinds[0] if len(kinds) == 1 else None
    for kind, model in _KIND_MODELS.items():
        if isinstance(value, model):
            return kind
    return None


Node = Annotated[
    Annotated[SendNode, Tag("send")]
    | Annotated[AskNode, Tag("ask")]
    | Annotated[ChooseLanguageNode, Tag("choose_language")]
    | Annotated[BranchNode, Tag("branch")]
    | Annotated[SetNode, Tag("set")]
    | Annotated[HandoverNode, Tag("handover")]
    | Annotated[EndNode, Tag("end")],
    Discriminator(
        _node_kind,
        custom_error_type="node_kind",
        custom_error_message="a node needs exactly one of: " + ", ".join(NODE_KINDS),
    ),
]
_KIND_MODELS: dict[str, type[BaseModel]] = {
    "send": SendNode, "ask": AskNode, "choose_language": ChooseLanguageNode,
    "branch": BranchNode, "set": SetNode, "handover": HandoverNode, "end": EndNode,
}  # fmt: skip


class Interrupt(_Strict):
    """At any question, a message that matches jumps straight to a node.

    It matches on ``phrases`` (e.g. "talk to a person") or on ``risk``: the risk lexicon
    rated the message at least this, whatever question it answers (a disclosure of
    danger is never "didn't get that").
    """

    goto: NodeId
    phrases: Words | None = None
    risk: Literal["urgent", "high"] | None = None

    _phrases: list[tuple[str, ...]] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _has_a_trigger(self) -> Interrupt:
        if self.phrases is None and self.risk is None:
            raise ValueError("an interrupt needs `phrases`, `risk` or both")
        return self

    def model_post_init(self, __context: Any) -> None:
        """Prepare the normalised phrases once."""
        self._phrases = [matching.tokens(p) for p in words_of(self.phrases)]

    def matches(self, words: tuple[str, ...], risk: Priority | None) -> bool:
        """Return whether a message (its words, the lexicon's rating) sets this off."""
        return (matching.at_least(risk, self.risk)
                or any(matching.contains(words, p) for p in self._phrases))


class Flow(_Strict):
    """One versioned flow: the whole content of one flow file."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    version: int | str
    type: Literal["messaging", "voice"]
    default_language: str
    languages: dict[str, str] = Field(min_length=1)
    review: dict[str, str] = {}
    description: str | None = None
    start: NodeId
    interrupts: dict[str, Interrupt] = {}
    nodes: dict[str, Node] = Field(min_length=1)

    @model_validator(mode="after")
    def _default_language_listed(self) -> Flow:
        if self.default_language not in self.languages:
            raise ValueError(
                f"default_language {self.default_language!r} must be one of `languages`"
            )
        return self

    def text(self, text: Text | None, language: str) -> str:
        """Return ``text`` in ``language``, falling back to the default language."""
        if text is None or isinstance(text, bool):
            return ""
        if isinstance(text, str):
            return text
        found = text.get(language) or text.get(self.default_language)
        return found if found is not None else next(iter(text.values()), "")

    @property
    def language_menu(self) -> list[str]:
        """Return language codes in menu order: reply 1 picks the first."""
        return list(self.languages)

    def language_menu_text(self) -> str:
        """Return e.g. ``1 English, 2 العربية``: every name in its own language."""
        return ", ".join(f"{i} {name}" for i, name in enumerate(self.languages.values(), 1))
