"""Text normalisation shared by the risk lexicon's phrases and the messages it reads.

Both sides go through the same functions, so a folding rule can never make a phrase
unmatchable: whatever a phrase becomes, the same words in a message become too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

# Characters folded before accents are stripped. NFD already takes hamza and madda
# off alef, waw and yeh (أ إ آ ؤ ئ ۀ); these are the letters it leaves alone.
# fmt: off
_FOLD = {
    # Arabic script: yeh, kaf, heh and teh marbuta variants (Arabic, Persian, Pashto, Sorani)
    "ى": "ي", "ی": "ي", "ې": "ي", "ۍ": "ي", "ێ": "ي", "ے": "ي",
    "ک": "ك", "ګ": "گ", "ڪ": "ك",
    "ة": "ه", "ە": "ه", "ھ": "ه", "ۀ": "ه", "ہ": "ه",
    "ٱ": "ا", "ٲ": "ا", "ٳ": "ا",
    # Sorani letters often typed with a Persian or Arabic keyboard
    "ۆ": "و", "ۊ": "و", "ڕ": "ر", "ڵ": "ل", "ڤ": "ف",
    # Pashto letters often typed with a Persian keyboard
    "ټ": "ت", "ډ": "د", "ړ": "ر", "ڼ": "ن", "ښ": "ش", "ږ": "ژ", "ځ": "ز", "څ": "س",
    # tatweel, zero-width joiners and marks vanish; ZWNJ separates like a space
    "ـ": "", "\u200d": "", "\u200e": "", "\u200f": "", "\ufeff": "", "\u200c": " ",
    # apostrophes vanish so "can't" == "cant" and "j'ai" == "jai"
    "'": "", "’": "", "‘": "", "`": "", "´": "", "ʼ": "",
    # Latin letters that do not decompose
    "đ": "d", "ð": "d", "ł": "l", "ø": "o", "ß": "ss", "æ": "ae", "œ": "oe", "ı": "i",
}
# fmt: on
for _zero in ("٠", "۰"):  # Arabic-Indic and Persian digits
    for _offset in range(10):
        _FOLD[chr(ord(_zero) + _offset)] = str(_offset)
_FOLD_TABLE = str.maketrans(_FOLD)

_WORD = re.compile(r"[^\W_]+")
_RUN_OF_THREE = re.compile(r"(.)\1{2,}")
_RUN_OF_TWO = re.compile(r"(.)\1+")
_ARABIC = re.compile(r"[\u0600-\u06ff]")


def fold(text: str) -> str:
    """Return ``text`` case-folded, with script variants unified and combining marks removed."""
    if text.isascii():  # most texts: NFKC and NFD leave ASCII alone, and it has no marks
        return text.lower().translate(_FOLD_TABLE)  # 2.1 -> 0.8 µs for the benchmark's texts
    text = unicodedata.normalize("NFKC", text).casefold().translate(_FOLD_TABLE)
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def words(text: str) -> list[str]:
    """Split folded text into words; punctuation, emoji and symbols separate words."""
    return _WORD.findall(text)


def collapse_runs(word: str) -> str:
    """Collapse runs of three or more of one letter to one ("helppppp" -> "help")."""
    return _RUN_OF_THREE.sub(r"\1", word)


def squeeze(word: str) -> str:
    """Collapse every run of one letter to one ("kill" -> "kil"); the form used for matching."""
    return _RUN_OF_TWO.sub(r"\1", word)


def is_arabic_script(word: str) -> bool:
    """Return whether ``word`` is written in Arabic script (Arabic, Persian, Pashto, Sorani)."""
    return bool(_ARABIC.match(word))


def tokens(text: str, textspeak: Mapping[str, str]) -> list[str]:
    """Return the matching form of every word in ``text``, text-speak expanded.

    ``textspeak`` maps a squeezed word to its squeezed expansion (one or more words).
    """
    result: list[str] = []
    # Squeezed whole, not word by word: a run of one character never spans a word and a
    # separator, so the words are the same, for one regex pass instead of one a word
    # (measured: 55 -> 16 µs for a nine-word text; every webhook pays it).
    for word in words(squeeze(fold(text))):
        expansion = textspeak.get(word)
        if expansion is None:
            result.append(word)
        else:
            result.extend(expansion.split())
    return result


def textspeak_key(word: str) -> str:
    """Return the form under which a text-speak word is looked up."""
    folded = words(fold(word))
    return squeeze(collapse_runs("".join(folded)))


GAP = "..."  # in a phrase: up to ``GAP_WORDS`` words of any kind
GAP_WORDS = 3
STEM = "*"  # at the end of a phrase word: any word starting with it ("دەترس*")
_PROCLITICS = ("و", "ف", "ب", "ل", "ال", "وال", "بال", "لل", "فال")


def phrase_words(phrase: str, textspeak: Mapping[str, str]) -> tuple[str, ...]:
    """Return the matching form of a lexicon phrase, keeping ``...`` gaps and ``*`` stems."""
    result: list[str] = []
    for chunk in phrase.split():
        if chunk == GAP:
            result.append(GAP)
        elif chunk.endswith(STEM) and len(chunk) > 1:
            stem = tokens(chunk[:-1], {})
            if len(stem) != 1:
                raise ValueError(f"stem {chunk!r} must be one word followed by {STEM!r}")
            result.append(stem[0] + STEM)
        else:
            result.extend(tokens(chunk, textspeak))
    if not result or result[0] == GAP or result[-1] == GAP:
        raise ValueError(f"phrase {phrase!r} must start and end with a word")
    return tuple(result)


def without_proclitic(word: str) -> list[str]:
    """Return ``word`` without a joined Arabic-script proclitic ("وما" -> "ما").

    Conjunctions, prepositions and the article are written joined to the next word
    ("لادفع" -> "ادفع"); the longest prefix comes first.
    """
    if not is_arabic_script(word):
        return []
    return [
        word[len(prefix) :]
        for prefix in sorted(_PROCLITICS, key=len, reverse=True)
        if word.startswith(prefix) and len(word) - len(prefix) >= 2
    ]
