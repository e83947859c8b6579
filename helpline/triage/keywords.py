"""Carrier keywords, recognised as Twilio recognises them: the whole message, any case."""

from __future__ import annotations

import re
from enum import Enum


class Keyword(Enum):
    """What a keyword message asks for."""

    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"


_KEYWORDS = {
    **dict.fromkeys(("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"), Keyword.OPT_OUT),
    **dict.fromkeys(("START", "UNSTOP"), Keyword.OPT_IN),
    **dict.fromkeys(("HELP", "INFO"), Keyword.HELP),
}
_TRIM = re.compile(r"^[\s\W_]+|[\s\W_]+$")


def keyword(text: str) -> Keyword | None:
    """Return the keyword a whole message is, ignoring case and surrounding punctuation."""
    return _KEYWORDS.get(_TRIM.sub("", text).upper())
