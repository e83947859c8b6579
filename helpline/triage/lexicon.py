"""The risk lexicon: spots words of danger in any inbound message, in any language.

One YAML file per language under ``config/lexicon/``. Every message is checked against
every language unless the caller restricts it: a young person may write in any language
or mix several, and a hit must never depend on a language detector.

Matching works on normalised words (see :mod:`helpline.triage.normalise`):

* a phrase matches its words in order, allowing one extra word between two of them
  ("locked me in" for "locked in"), as long as that word is not a negation;
* a phrase also matches with its spaces removed, aligned to word boundaries
  ("killmyself", "kill my self", "helpme");
* a word of six letters or more that the lexicon does not know is mapped to the
  closest lexicon word with the same first letter within one edit (two from nine
  letters), using rapidfuzz's optimal string alignment distance; shorter words must
  match exactly;
* an entry marked ``negatable`` is ignored when a negation comes just before it
  ("i'm not scared"); danger to life is never negatable.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rapidfuzz import process
from rapidfuzz.distance import OSA

from helpline.triage import normalise
from helpline.triage.priority import Priority

logger = logging.getLogger(__name__)

Category = Literal[
    "immediate_danger",
    "suicide_self_harm",
    "held_or_moved",
    "sexual_exploitation",
    "trafficking_debt_bondage",
    "lost_at_night",
    "violence",
    "missing_from_care",
]

MAX_GAP = 1  # extra words allowed between two words of a phrase
NEGATION_WINDOW = 3  # words before a negatable match searched for a negation
MIN_FUZZY_LENGTH = 6  # shorter words must match exactly
LONG_FUZZY_LENGTH = 9  # from this length two edits are forgiven instead of one
_CACHE_LIMIT = 50_000
# Words of children's texts are kept this long at most (seconds), never for the process's
# life: the cache of word forms is emptied when it is older, or full.
_CACHE_SECONDS = 600.0


class LexiconError(ValueError):
    """A lexicon file is missing, unreadable or invalid."""


class EntryModel(BaseModel):
    """One risk entry: phrases that all mean the same kind of danger."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, pattern=r"^[a-z0-9_.-]+$")
    category: Category
    priority: Literal["urgent", "high"]
    phrases: list[str] = Field(min_length=1)
    negatable: bool = False
    urgent_if_now: bool = False  # urgent when the message also holds one of the ``now`` words
    whole_message: bool = False  # matches only when a phrase is the entire message ("help!!")
    urgent_with_other: bool = False  # urgent when any other entry matches too (fear + risk)


class LexiconFileModel(BaseModel):
    """A language's lexicon file."""

    model_config = ConfigDict(extra="forbid")

    language: str = Field(pattern=r"^[a-z]{2,3}$")
    review: str | None = None
    negations: list[str] = []
    now: list[str] = []
    reassurance: list[str] = []  # phrases that make negatable entries stand down ("lol")
    textspeak: dict[str, str] = {}
    entries: list[EntryModel] = Field(min_length=1)


@dataclass(frozen=True)
class RiskMatch:
    """A lexicon entry found in a message."""

    entry_id: str
    category: str
    priority: Priority  # URGENT or HIGH
    language: str


@dataclass(frozen=True)
class RiskAssessment:
    """What the lexicon found in one message."""

    priority: Priority | None  # highest matched, None if nothing matched
    categories: tuple[str, ...]  # sorted unique categories matched
    matches: tuple[RiskMatch, ...]

    @property
    def raised(self) -> bool:
        """Return whether the message should raise the conversation's priority."""
        return self.priority is not None


@dataclass(frozen=True)
class _Phrase:
    words: tuple[str, ...]
    match: RiskMatch | None  # None for a reassurance ("lol", "i am safe now")
    match_now: RiskMatch | None  # the match when a ``now`` word is in the message
    negatable: bool = False
    whole_message: bool = False
    urgent_with_other: bool = False

    @cached_property
    def required(self) -> frozenset[str]:
        """Return the exact words a message must hold for this phrase to match."""
        return frozenset(
            word for word in self.words if word != normalise.GAP and not word.endswith("*")
        )


_NOTHING = RiskAssessment(priority=None, categories=(), matches=())


class RiskLexicon:
    """Every language's risk phrases, compiled once for fast matching."""

    def __init__(
        self,
        phrases: Iterable[_Phrase],
        *,
        textspeak: dict[str, str],
        negations: Iterable[str],
        now: Iterable[str],
        languages: Iterable[str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Index ``phrases``; use :meth:`load` to read them from YAML files."""
        self._textspeak = textspeak
        self._negations = frozenset(negations)
        self._now = frozenset(now)
        self._languages = tuple(sorted(set(languages)))
        self._joined: dict[str, list[_Phrase]] = defaultdict(list)
        self._whole: dict[str, list[_Phrase]] = defaultdict(list)
        self._by_first: dict[str, list[_Phrase]] = defaultdict(list)
        vocabulary: set[str] = set()
        stems: set[str] = set()
        for phrase in phrases:
            plain = [word for word in phrase.words if word != normalise.GAP]
            stems.update(word[:-1] for word in plain if word.endswith(normalise.STEM))
            vocabulary.update(word for word in plain if not word.endswith(normalise.STEM))
            simple = len(plain) == len(phrase.words) and not any(
                word.endswith(normalise.STEM) for word in plain
            )
            joined = "".join(phrase.words)
            if phrase.whole_message:
                self._whole[joined].append(phrase)
                continue
            if simple:
                self._joined[joined].append(phrase)
                if len(phrase.words) > 1:
                    vocabulary.add(joined)  # so "kilmyslef" can be forgiven as one word
            if len(phrase.words) > 1 or not simple:
                self._by_first[phrase.words[0]].append(phrase)
        self._stems = frozenset(stems)
        self._stem_lengths = sorted({len(stem) for stem in stems})
        # Every prefix of a joined key: words are joined on only while they could still
        # become one (most texts stop after a word, instead of at the longest key).
        self._joined_prefixes = frozenset(key[:end] for key in self._joined
                                          for end in range(1, len(key) + 1))
        self._vocabulary = frozenset(vocabulary)
        self._fuzzy_choices: dict[str, list[str]] = defaultdict(list)
        for word in sorted(vocabulary):
            if len(word) >= MIN_FUZZY_LENGTH:
                self._fuzzy_choices[word[0]].append(word)
        self._forms: dict[str, tuple[str, ...]] = {}
        self._clock = clock
        self._forms_since = clock()

    @classmethod
    def load(cls, directory: Path,
             clock: Callable[[], float] = time.monotonic) -> RiskLexicon:
        """Read and compile every ``*.yaml`` lexicon file in ``directory``."""
        files = sorted(Path(directory).glob("*.yaml"))
        if not files:
            raise LexiconError(f"{directory}: no lexicon files (*.yaml) found")
        models = [(path, _read_file(path)) for path in files]
        textspeak: dict[str, str] = {}
        origin: dict[str, str] = {}
        for path, model in models:
            for word, expansion in model.textspeak.items():
                key = normalise.textspeak_key(word)
                value = " ".join(normalise.tokens(expansion, {}))
                if not key or not value:
                    raise LexiconError(f"{path}: textspeak {word!r}: field 'textspeak': empty")
                if textspeak.get(key, value) != value:
                    raise LexiconError(
                        f"{path}: textspeak {word!r}: field 'textspeak': already expands to "
                        f"{textspeak[key]!r} in {origin[key]}"
                    )
                textspeak[key], origin[key] = value, path.name
        negations: set[str] = set()
        now: set[str] = set()
        phrases: list[_Phrase] = []
        seen_ids: dict[str, Path] = {}
        for path, model in models:
            negations.update(_single_words(path, "negations", model.negations, textspeak))
            now.update(_single_words(path, "now", model.now, textspeak))
            for text in model.reassurance:
                words = _compile(path, "reassurance", text, textspeak)
                phrases.append(_Phrase(words, None, None))
            for entry in model.entries:
                if entry.id in seen_ids:
                    raise LexiconError(
                        f"{path}: entry {entry.id!r}: field 'id': also used in {seen_ids[entry.id]}"
                    )
                seen_ids[entry.id] = path
                match = RiskMatch(
                    entry_id=entry.id,
                    category=entry.category,
                    priority=Priority(entry.priority),
                    language=model.language,
                )
                urgent = replace(match, priority=Priority.URGENT)
                for text in entry.phrases:
                    phrases.append(
                        _Phrase(
                            _compile(path, f"entry {entry.id!r}: field 'phrases'", text, textspeak),
                            match,
                            urgent if entry.urgent_if_now else match,
                            negatable=entry.negatable,
                            whole_message=entry.whole_message,
                            urgent_with_other=entry.urgent_with_other,
                        )
                    )
        lexicon = cls(
            phrases,
            textspeak=textspeak,
            negations=negations,
            now=now,
            languages=(_language_of(path) for path in files),
            clock=clock,
        )
        logger.info(
            "risk lexicon loaded",
            extra={"languages": lexicon.languages, "phrases": len(phrases)},
        )
        return lexicon

    @property
    def languages(self) -> tuple[str, ...]:
        """Return the language codes the lexicon has files for."""
        return self._languages

    def forget_old_words(self) -> None:
        """Empty the cache of word forms if it is older than ``_CACHE_SECONDS``.

        ``assess`` calls it for every text; the service also calls it every minute, so
        words of texts are not kept through a quiet spell either.
        """
        now = self._clock()
        if now - self._forms_since > _CACHE_SECONDS:
            self._forms.clear()
            self._forms_since = now

    def assess(self, text: str, *, languages: Iterable[str] | None = None) -> RiskAssessment:
        """Return the risk entries found in ``text``; all languages unless ``languages``."""
        self.forget_old_words()
        forms = [self._forms_of(word) for word in normalise.tokens(text, self._textspeak)]
        if not forms:
            return _NOTHING
        words = [form[0] for form in forms]
        wanted = None if languages is None else frozenset(languages)
        now = not self._now.isdisjoint(words)
        found: dict[str, tuple[RiskMatch, _Phrase]] = {}
        reassured = False
        hits = list(self._find(words, forms))
        hits.extend((0, phrase) for phrase in self._whole.get("".join(words), ()))
        for start, phrase in hits:
            match = phrase.match_now if now else phrase.match
            if match is None:
                reassured = True
                continue
            if match.entry_id in found or (wanted is not None and match.language not in wanted):
                continue
            if phrase.negatable and self._negated(words, start):
                continue
            found[match.entry_id] = (match, phrase)
        results = []
        for match, phrase in found.values():
            if phrase.negatable and reassured:
                continue
            if phrase.urgent_with_other and len(found) > 1:
                match = replace(match, priority=Priority.URGENT)
            results.append(match)
        if not results:
            return _NOTHING
        matches = tuple(sorted(results, key=lambda m: (m.priority.rank, m.entry_id)))
        return RiskAssessment(
            priority=matches[0].priority,
            categories=tuple(sorted({m.category for m in matches})),
            matches=matches,
        )

    def _find(
        self, words: list[str], forms: list[tuple[str, ...]]
    ) -> Iterable[tuple[int, _Phrase]]:
        """Yield ``(start, phrase)`` for every phrase found in ``words``."""
        joined_index, prefixes, by_first = self._joined, self._joined_prefixes, self._by_first
        present = frozenset(words)
        for start in range(len(words)):
            # words joined without spaces, aligned on word boundaries
            joined = ""
            for word in words[start:]:
                joined += word
                if joined not in prefixes:
                    break
                if joined in joined_index:  # rarely: no generator for every miss
                    yield from ((start, phrase) for phrase in joined_index[joined])
            # words in order, with small gaps
            for form in forms[start]:
                for phrase in by_first.get(form, ()):
                    if phrase.required <= present and self._in_order(
                        words, forms, start, phrase.words
                    ):
                        yield start, phrase

    def _in_order(
        self, words: list[str], forms: list[tuple[str, ...]], start: int, wanted: tuple[str, ...]
    ) -> bool:
        """Return whether ``wanted`` follows ``start`` in order, skipping only allowed gaps."""
        position, allowance = start, MAX_GAP
        for target in wanted[1:]:
            if target == normalise.GAP:
                allowance = normalise.GAP_WORDS
                continue
            for candidate in range(position + 1, position + allowance + 2):
                if candidate >= len(words):
                    return False
                if target in forms[candidate]:
                    position, allowance = candidate, MAX_GAP
                    break
                if words[candidate] in self._negations:
                    return False
            else:
                return False
        return True

    def _negated(self, words: list[str], start: int) -> bool:
        """Return whether a negation comes in the few words before ``start``."""
        before = words[max(0, start - NEGATION_WINDOW) : start]
        return not self._negations.isdisjoint(before)

    def _forms_of(self, word: str) -> tuple[str, ...]:
        """Return the lexicon forms of ``word``: its canonical spelling first, then stems."""
        forms = self._forms.get(word)
        if forms is None:
            canonical = self._canonical_word(word)
            stems = [
                word[:length] + normalise.STEM
                for length in self._stem_lengths
                if length <= len(word) and word[:length] in self._stems
            ]
            forms = (canonical, *stems)
            if any(char.isdigit() for char in word):
                return forms  # numbers, postcodes, house numbers: never kept
            if len(self._forms) >= _CACHE_LIMIT:
                self._forms.clear()
            self._forms[word] = forms
        return forms

    def _canonical_word(self, word: str) -> str:
        """Return ``word``, or the lexicon word it is most likely a misspelling of."""
        if word in self._vocabulary:
            return word
        for stripped in normalise.without_proclitic(word):
            if stripped in self._vocabulary:
                return stripped
        return self._closest(word) or word

    def _closest(self, word: str) -> str | None:
        """Return the nearest lexicon word sharing the first letter, if close enough."""
        if len(word) < MIN_FUZZY_LENGTH:
            return None
        choices = self._fuzzy_choices.get(word[0])
        if not choices:
            return None
        allowed = 2 if len(word) >= LONG_FUZZY_LENGTH else 1
        best = process.extractOne(word, choices, scorer=OSA.distance, score_cutoff=allowed)
        return None if best is None else best[0]


def _language_of(path: Path) -> str:
    return path.stem


def _compile(path: Path, where: str, text: str, textspeak: dict[str, str]) -> tuple[str, ...]:
    """Compile one phrase, naming file and field if it is unusable."""
    try:
        return normalise.phrase_words(text, textspeak)
    except ValueError as error:
        raise LexiconError(f"{path}: {where}: {error}") from None


def _single_words(
    path: Path, field: str, values: Iterable[str], textspeak: dict[str, str]
) -> list[str]:
    """Normalise a list of cue words, refusing any that is not a single word."""
    result = []
    for value in values:
        words = normalise.tokens(value, textspeak)
        if len(words) != 1:
            raise LexiconError(f"{path}: field {field!r}: {value!r} must be exactly one word")
        result.append(words[0])
    return result


def _read_file(path: Path) -> LexiconFileModel:
    """Read and validate one lexicon file, naming file, entry and field on error."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise LexiconError(f"{path}: cannot read lexicon file: {error}") from error
    if not isinstance(raw, dict):
        raise LexiconError(f"{path}: expected a mapping with 'language' and 'entries'")
    try:
        model = LexiconFileModel.model_validate(raw)
    except ValidationError as error:
        problems = [_describe(raw, detail) for detail in error.errors()]
        raise LexiconError(f"{path}: " + "; ".join(problems)) from None
    if model.language != _language_of(path):
        raise LexiconError(
            f"{path}: field 'language': {model.language!r} does not match the file name"
        )
    return model


def _describe(raw: dict, detail: dict) -> str:
    """Describe one pydantic error as ``entry 'id': field 'name': message``."""
    location = detail["loc"]
    where = ""
    if len(location) >= 2 and location[0] == "entries" and isinstance(location[1], int):
        entries = raw.get("entries") or []
        entry = entries[location[1]] if location[1] < len(entries) else None
        entry_id = entry.get("id") if isinstance(entry, dict) else None
        where = f"entry {entry_id!r} " if entry_id else ""
        where += f"(entries[{location[1]}]): "
        location = location[2:]
    field = ".".join(str(part) for part in location) or "entries"
    return f"{where}field {field!r}: {detail['msg']}"
