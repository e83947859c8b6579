"""Guess the language of a young person's first message, among a flow's languages."""

from __future__ import annotations

import logging
import threading
import unicodedata
from collections.abc import Iterable

from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

from helpline.triage.flows import matching

log = logging.getLogger(__name__)

MIN_LETTERS = 6
"""Shorter Latin-script texts ("hi", "ok", "?") say nothing reliable about their language."""
MIN_LETTERS_OTHER_SCRIPT = 2
"""A word in another script (Arabic, Persian...) is already a strong sign it is not English."""
MIN_CONFIDENCE = 0.85
"""Below this, ambiguous texts stay in the default language."""


def lingua_language(code: str) -> Language | None:
    """Return lingua's language for an ISO 639-1 code such as ``ar``, or None if unknown."""
    iso = getattr(IsoCode639_1, code.upper(), None)
    if iso is None:
        return None
    try:
        return Language.from_iso_code_639_1(iso)
    except ValueError:
        return None


class LanguageGuesser:
    """Detect languages with lingua; one detector per language set, built lazily and cached."""

    def __init__(self) -> None:
        """Start with no detector: building one is slow, so it waits for the first use."""
        self._detectors: dict[frozenset[str], LanguageDetector | None] = {}
        self._lock = threading.Lock()

    def _detector(self, codes: frozenset[str]) -> LanguageDetector | None:
        detector = self._detectors.get(codes, False)
        if detector is not False:
            return detector
        with self._lock:
            if codes not in self._detectors:
                languages = [lang for c in codes if (lang := lingua_language(c)) is not None]
                self._detectors[codes] = (
                    LanguageDetectorBuilder.from_languages(*languages)
                    .with_low_accuracy_mode()
                    .build()
                    if len(languages) >= 2
                    else None
                )
                log.info("built language detector for %d languages", len(languages))
            return self._detectors[codes]

    def warm_up(self, codes: Iterable[str]) -> None:
        """Build the detector and load its models now (e.g. at startup), not on first use."""
        detector = self._detector(frozenset(codes))
        if detector is not None:
            # Models load lazily on first detection; one detection loads them all.
            detector.compute_language_confidence_values("warm up the language models")

    def guess(self, text: str | None, codes: Iterable[str], default: str) -> str:
        """Return the language of ``text`` among ``codes``; ``default`` when unsure."""
        codes = frozenset(codes)
        if not text or len(codes) < 2:
            return default
        letters = [ch for ch in matching.normalise(text) if ch.isalpha()]
        latin = all(ch.isascii() or unicodedata.name(ch, "").startswith("LATIN") for ch in letters)
        if len(letters) < (MIN_LETTERS if latin else MIN_LETTERS_OTHER_SCRIPT):
            return default
        detector = self._detector(codes)
        if detector is None:
            return default
        values = detector.compute_language_confidence_values(text)
        if not values or (latin and values[0].value < MIN_CONFIDENCE):
            return default
        code = values[0].language.iso_code_639_1.name.lower()
        return code if code in codes else default
