"""Case tests on a reply: tolerant of case, punctuation, accents, repeats and text-speak."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from rapidfuzz.distance import OSA

from helpline.triage.priority import Priority

if TYPE_CHECKING:
    from helpline.triage.flows.models import Case

_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_LETTERS = str.maketrans(
    {
        "đ": "d",
        "ى": "ي",
        "ی": "ي",  # Persian yeh
        "ك": "ک",  # Arabic kaf -> Persian keheh
        "ة": "ه",
        "ـ": "",  # tatweel
        "\u200c": "",  # zero-width non-joiner, common in Persian
    }
)
_NOT_WORD = re.compile(r"[\W_]+")
_REPEATS = re.compile(r"([^\W\d_])\1{2,}")
_FUZZY_MIN_LENGTH = 5  # words this long tolerate one typo

_NUMBER_NAMES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen"
    " fourteen fifteen sixteen seventeen eighteen nineteen twenty"
)
NUMBER_WORDS = {word: n for n, word in enumerate(_NUMBER_NAMES.split())}

# Yes and no, normalised (no accents, no case), per language. English is always accepted too.
YES = {
    "en": "y ye yes yea yeah yeh yh ya yah yep yup yeap sure correct right safe",
    "ar": "نعم ايوه ايوا اه ايه اجل نعمم na3am naam aywa aiwa eh ah",
    "vi": "co vang da u uh um dung roi yes",
    "fa": "بله بلي اره اري ها بلی baleh bale are areh ari",
}
NO = {
    "en": "n no nah na nope nop not",
    "ar": "لا لأ لاء كلا مش la laa2 la2 mish",
    "vi": "khong ko k kg khg hong hok chua",
    "fa": "نه نخير نخیر na nah nakheir",
}
_YES_PHRASES = {
    "en": ["i am ok", "i am safe", "im ok", "i m ok", "im safe", "i m safe", "yes please"],
    "vi": ["co a", "vang a", "da vang"],
}
_NO_PHRASES = {
    "en": ["not really", "i am not", "im not", "i m not", "no thanks", "no thank you"],
    "vi": ["khong a", "ko a"],
}


def normalise(text: str) -> str:
    """Return ``text`` lower-cased, without accents, punctuation or letter repeats."""
    text = unicodedata.normalize("NFKD", text.casefold().translate(_DIGITS))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = unicodedata.normalize("NFKC", text).translate(_LETTERS)
    text = _NOT_WORD.sub(" ", text)
    return _REPEATS.sub(r"\1", text).strip()


def tokens(text: str) -> tuple[str, ...]:
    """Return the normalised words of ``text``."""
    return tuple(normalise(text).split())


def _word_equal(a: str, b: str) -> bool:
    if a == b:
        return True
    if len(a) < _FUZZY_MIN_LENGTH or len(b) < _FUZZY_MIN_LENGTH or abs(len(a) - len(b)) > 1:
        return False
    if a.isdigit() or b.isdigit():
        return False
    return OSA.distance(a, b, score_cutoff=1) <= 1  # a swap of two letters is one typo


def contains(haystack: tuple[str, ...], needle: tuple[str, ...]) -> bool:
    """Return whether the words ``needle`` appear together in ``haystack`` (one typo allowed)."""
    n = len(needle)
    if not n:
        return False
    first = needle[0]
    for i in range(len(haystack) - n + 1):
        word = haystack[i]
        if word != first and not _word_equal(word, first):
            continue  # cheap rejection: most positions fail on the first word
        if all(_word_equal(haystack[i + j], needle[j]) for j in range(1, n)):
            return True
    if n > 1:  # missing spaces: "notsafe"
        joined = "".join(needle)
        return any(_word_equal(word, joined) for word in haystack)
    return False


def _starts_with(haystack: tuple[str, ...], needle: tuple[str, ...]) -> bool:
    return bool(needle) and haystack[: len(needle)] == needle


def _table(words: dict[str, str], phrases: dict[str, list[str]]) -> dict[str, set[tuple]]:
    return {
        lang: {tokens(w) for w in line.split()} | {tokens(p) for p in phrases.get(lang, [])}
        for lang, line in words.items()
    }


_YES_WORDS = _table(YES, _YES_PHRASES)
_NO_WORDS = _table(NO, _NO_PHRASES)


def means(words: tuple[str, ...], answer: str, language: str) -> bool:
    """Return whether the reply means yes (or no) in ``language`` or in English."""
    if not words:
        return False
    wanted, opposite = (_YES_WORDS, _NO_WORDS) if answer == "yes" else (_NO_WORDS, _YES_WORDS)
    languages = (language, "en") if language != "en" else ("en",)

    def longest(table: dict[str, set[tuple[str, ...]]]) -> int:
        found = [
            len(p) for lang in languages for p in table.get(lang, ()) if _starts_with(words, p)
        ]
        return max(found, default=0)

    # "i am not" starts with the yes-phrase "i am" but the longer no-phrase wins.
    mine, theirs = longest(wanted), longest(opposite)
    return mine > theirs


@dataclass(frozen=True)
class Reply:
    """A reply prepared once for all the case tests of a step."""

    raw: str

    @cached_property
    def words(self) -> tuple[str, ...]:
        """Return the normalised words."""
        return tokens(self.raw)

    @cached_property
    def numbers(self) -> tuple[int, ...]:
        """Return the numbers in the reply, digits or English number words."""
        found: list[int] = []
        for word in self.words:
            if word.isdigit():
                found.append(int(word))
            elif word in NUMBER_WORDS:
                found.append(NUMBER_WORDS[word])
        return tuple(found)

    def choice(self) -> int | None:
        """Return the number picked from a numbered list ("2", "2.", "option 2"), if any."""
        if self.numbers and len(self.words) <= 3:
            return self.numbers[0]
        return None


@dataclass(frozen=True)
class Facts:
    """What a case may test besides the reply: the context and what the flow has recorded."""

    open_now: bool
    results: dict[str, str]
    flags: frozenset[str]


def at_least(risk: Priority | None, wanted: str | None) -> bool:
    """Return whether the lexicon rated a message ``wanted`` (a priority) or more urgent."""
    return wanted is not None and risk is not None and risk.rank <= Priority(wanted).rank


def case_matches(case: Case, reply: Reply | None, language: str, facts: Facts) -> bool:
    """Return whether ANY of the case's tests matches the reply or the facts."""
    if case.open_now is not None and case.open_now == facts.open_now:
        return True
    if case.result and all(facts.results.get(k) == v for k, v in case.result.items()):
        return True
    if case.flag is not None and case.flag in facts.flags:
        return True
    if reply is None:
        return False
    words = reply.words
    if case.means is not None and means(words, case.means, language):
        return True
    if case.choice is not None and reply.choice() == case.choice:
        return True
    if case.number is not None and reply.numbers[:1] == (case.number,):
        return True
    if case.range is not None and reply.numbers:
        low, high = case.range
        if low <= reply.numbers[0] <= high:
            return True
    if case._any and any(contains(words, w) for w in case._any):
        return True
    if case._all and all(contains(words, w) for w in case._all):
        return True
    if case._phrase and any(contains(words, p) for p in case._phrase):
        return True
    return case._regex is not None and case._regex.search(reply.raw.strip()) is not None
