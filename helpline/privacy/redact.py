"""Redact phone numbers, e-mail addresses and UK postcodes from text that leaves the system.

Exports, error reports and log lines go through :func:`redact`. The rules:

- **Phone numbers** become ``[phone]``. phonenumbers' matcher at ``POSSIBLE`` leniency finds
  them (so the UK drama range 07700 900xxx, which ``is_valid_number`` rejects, is caught),
  in any common form: E.164, national, spaced, dashed, dotted, bracketed, ``whatsapp:+44...``,
  ``%2B44...``, glued to letters. A match needs at least 10 digits (a UK number written
  nationally has 10 or 11), or 8 after ``+`` or ``00``: shorter ones are counters, durations,
  prices, 8-digit dates and local numbers without an area code. A fallback then takes any
  run of 10 to 17 digits (8 after ``+``), joined by at most two separator characters (space,
  ``-``, ``.``, ``_``, ``/``, brackets), that phonenumbers calls a possible number as written
  or after a ``+``: underscores, and two numbers side by side, defeat the matcher.
- **E-mail addresses** become ``[email]``; **UK postcodes** (``SW1A 1AA``, ``m11ae``, any
  case, with or without the space) become ``[postcode]``.
- **Left alone**, because they are not phone numbers and an operator needs them: ISO dates and
  times (``2026-11-22 03:14:54,123``, ``...T03:14:54.123456+00:00``), clock times, IPv4
  addresses, Twilio SIDs, UUIDs and hex digests, the fractional part of a decimal
  (``0.0012345678901``, ``12.345678912``), and digit groups shorter than the minimums above.

Known limits: a single unbroken run of more than 17 digits is left alone even if two numbers
were glued together; a number hidden inside a 32-character hex token is taken for an id.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import phonenumbers
from phonenumbers import Leniency, NumberParseException, PhoneNumberMatcher

PHONE = "[phone]"
EMAIL = "[email]"
POSTCODE = "[postcode]"

MIN_PHONE_DIGITS = 10  # a UK number written nationally has 10 or 11
MIN_INTERNATIONAL_DIGITS = 8  # after "+" or "00": the shortest country code and number
_FALLBACK_MIN_DIGITS = MIN_PHONE_DIGITS
_FALLBACK_MAX_DIGITS = 17  # 15 digits of E.164 after a "00" international prefix
_MASK = "\x00"  # neither a digit, nor punctuation, nor an extension marker to the matcher

# The cheap test that runs on every log line: is there a group of at least 8 digits joined
# only by the punctuation the matcher accepts inside a number (at most 4 characters at a
# time), or by "_" for the fallback? Most lines have none and never reach the matcher.
_SEPARATOR = (
    r"[-\s\u2010-\u2015\u2212\u30fc\uff0d\uff0f\u00ad\u200b\u2060()\uff08\uff09\uff3b\uff3d"
    r".\[\]/~\u2053\u223c\uff5ex_]"
)
_ENOUGH_DIGITS = re.compile(rf"\d(?:{_SEPARATOR}{{0,4}}\d){{{MIN_INTERNATIONAL_DIGITS - 1}}}")
_ANY_DIGIT = re.compile(r"\d")
_DECIMAL = re.compile(r"(?:0|[1-9]\d*)\.\d+")
# The lookbehind makes a match start only where a word starts: linear even on a long word.
_EMAIL = re.compile(r"(?<![\w.+%-])[\w.+%-]+@[\w-]+(?:\.[\w-]+)+")
_POSTCODE = re.compile(
    r"\b(?:GIR ?0AA"
    r"|[A-PR-UWYZ](?:[0-9][0-9A-HJKPSTUW]?|[A-HK-Y][0-9][0-9ABEHMNPRV-Y]?)"
    r" ?[0-9][ABD-HJLNP-UW-Z]{2})\b",
    re.IGNORECASE,
)

# Digit-bearing tokens that are not phone numbers. They are masked (same length) before
# matching, so the matcher neither redacts them nor glues their digits to a neighbour.
_TIME = r"\d{1,2}:[0-5]\d(?::[0-5]\d(?:[.,]\d{1,9})?)?(?:\s?(?:Z|[+-]\d{2}:?\d{2}(?!\d)))?"
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_NOT_PHONE = re.compile(
    r"(?<!\d)(?:"
    rf"(?:19|20)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])(?:[T ]{_TIME})?"  # ISO date
    rf"|{_TIME}"
    rf"|{_OCTET}(?:\.{_OCTET}){{3}}"  # IPv4 address
    r")(?!\d)"
    r"|\b[A-Z]{2}(?=\d*[a-f])[0-9a-f]{32}\b"  # Twilio SID: SM..., AC..., MG...
    r"|\b[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\b"  # UUID
    r"|\b(?=\d*[a-f])[0-9a-f]{32}(?:[0-9a-f]{8}|[0-9a-f]{32})?\b"  # MD5, SHA-1, SHA-256 hex
)
# A run of digits with at most two separator characters between them.
_DIGIT_RUN = re.compile(r"\d(?:[ \t\u00a0./()_-]{0,2}\d)*")
_DIGITS = re.compile(r"\d+")


def redact(text: str, *, region: str = "GB") -> str:
    """Return ``text`` with phone numbers, e-mail addresses and UK postcodes replaced."""
    if "@" in text:
        text = _EMAIL.sub(EMAIL, text)
    if _ENOUGH_DIGITS.search(text):
        text = _redact_phones(text, region)
    if _ANY_DIGIT.search(text):  # every postcode has a digit
        text = _POSTCODE.sub(POSTCODE, text)
    return text


def redact_mapping(data: Mapping[str, Any], *, region: str = "GB") -> dict[str, Any]:
    """Return a copy of a report with every string, and every phone-like integer, redacted.

    Nested mappings, lists and tuples are followed. Keys are kept: they name fields, and
    redacting them could merge two entries into one.
    """
    return {key: _redact_value(value, region) for key, value in data.items()}


def _redact_value(value: Any, region: str) -> Any:
    if isinstance(value, str):
        return redact(value, region=region)
    if isinstance(value, Mapping):
        return redact_mapping(value, region=region)
    if isinstance(value, list | tuple):
        items = [_redact_value(item, region) for item in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, int) and not isinstance(value, bool):
        as_text = str(value)
        redacted = redact(as_text, region=region)
        return value if redacted == as_text else redacted
    return value


def _redact_phones(text: str, region: str) -> str:
    """Replace every phone number in ``text`` (which has enough digits to hold one)."""
    masked = _NOT_PHONE.sub(lambda m: _MASK * len(m.group()), text)
    if not _ENOUGH_DIGITS.search(masked):
        return text
    spans = list(_matched_spans(masked, region))
    for start, end in spans:
        masked = masked[:start] + _MASK * (end - start) + masked[end:]
    spans.extend(_fallback_spans(masked, region))
    if not spans:
        return text
    parts = []
    position = 0
    for start, end in sorted(spans):
        parts.append(text[position:start])
        parts.append(PHONE)
        position = end
    parts.append(text[position:])
    return "".join(parts)


def _matched_spans(text: str, region: str) -> Iterator[tuple[int, int]]:
    """Yield the spans phonenumbers' matcher finds, less those too short to be a number."""
    for match in PhoneNumberMatcher(text, region, leniency=Leniency.POSSIBLE):
        raw = match.raw_string
        digits = sum(c.isdigit() for c in raw)
        minimum = MIN_INTERNATIONAL_DIGITS if raw.startswith(("+", "00")) else MIN_PHONE_DIGITS
        if digits < minimum or _is_fraction(text, match.start) or _DECIMAL.fullmatch(raw):
            continue
        yield match.start, match.end


def _fallback_spans(text: str, region: str) -> Iterator[tuple[int, int]]:
    """Yield runs of 10-17 digits, or parts of longer runs, that are possible numbers."""
    for run in _DIGIT_RUN.finditer(text):
        if len(run.group()) < _FALLBACK_MIN_DIGITS:
            continue
        chunks = [(m.start(), m.end(), m.group()) for m in _DIGITS.finditer(text, *run.span())]
        counts = [0]
        for _, _, digits in chunks:
            counts.append(counts[-1] + len(digits))
        if counts[-1] < _FALLBACK_MIN_DIGITS:
            continue
        first = 0
        while first < len(chunks):
            last = _longest_number(text, chunks, counts, first, region)
            if last is None:
                first += 1
                continue
            start = chunks[first][0]
            yield (start - 1 if text[start - 1 : start] == "+" else start), chunks[last][1]
            first = last + 1


def _longest_number(
    text: str, chunks: list[tuple[int, int, str]], counts: list[int], first: int, region: str
) -> int | None:
    """Return the last chunk of the longest possible number starting at chunk ``first``."""
    start = chunks[first][0]
    if _is_fraction(text, start):
        return None
    plus = text[start - 1 : start] == "+"
    minimum = MIN_INTERNATIONAL_DIGITS if plus else _FALLBACK_MIN_DIGITS
    for last in range(len(chunks) - 1, first - 1, -1):
        size = counts[last + 1] - counts[first]
        if size > _FALLBACK_MAX_DIGITS:
            continue
        if size < minimum:
            return None
        if _DECIMAL.fullmatch(text, start, chunks[last][1]):
            continue
        digits = phonenumbers.normalize_digits_only("".join(c[2] for c in chunks[first : last + 1]))
        if _is_possible(digits, plus=plus, region=region):
            return last
    return None


def _is_possible(digits: str, *, plus: bool, region: str) -> bool:
    """Tell whether phonenumbers calls ``digits`` a possible number, as written or after a +."""
    if plus:
        candidates: tuple[str, ...] = ("+" + digits,)
    elif digits.startswith("0"):
        candidates = (digits,)
    else:
        candidates = (digits, "+" + digits)
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except NumberParseException:
            continue
        if phonenumbers.is_possible_number(number):
            return True
    return False


def _is_fraction(text: str, start: int) -> bool:
    """Tell whether the digits at ``start`` are the fractional part of a decimal number."""
    return start >= 2 and text[start - 1] == "." and text[start - 2].isdigit()
