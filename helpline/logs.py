"""Logging set-up: one line per event, key=value, quiet third parties, redaction on every line.

Redaction is defence in depth: code never logs a phone number or message text on purpose,
but an exception message or a third-party library's DEBUG line might. Every handler that
:func:`setup_logging` configures carries a :class:`RedactingFilter`, so whatever logger a
record comes from (ours, ``aiohttp.access``, the twilio SDK), its final text is redacted.
"""

from __future__ import annotations

import logging

from helpline.privacy.redact import redact

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_REDACTED = "_helpline_redacted"
_FALLBACK_FORMATTER = logging.Formatter()


class RedactingFilter(logging.Filter):
    """Rewrite each record so its message, traceback and stack text are redacted.

    The record is changed in place (``msg`` holds the final, redacted message and ``args``
    is emptied; the traceback is formatted once into ``exc_text`` and ``exc_info`` is
    dropped), so every handler after this one sees only the redacted text too.
    """

    def __init__(self, handler: logging.Handler | None = None) -> None:
        super().__init__()
        self._handler = handler

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record in place and let it through."""
        if getattr(record, _REDACTED, False):
            return True
        record.msg = redact(_final_message(record))
        record.args = ()
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self._formatter().formatException(record.exc_info)
            # The formatter prints exc_text when exc_info is None; nothing downstream can
            # format the live exception (and its message) a second time, unredacted.
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        setattr(record, _REDACTED, True)
        return True

    def _formatter(self) -> logging.Formatter:
        handler_formatter = self._handler.formatter if self._handler is not None else None
        return handler_formatter or _FALLBACK_FORMATTER


def _final_message(record: logging.LogRecord) -> str:
    """Return the record's message with its arguments, never raising."""
    try:
        return record.getMessage()
    except Exception:  # a bad format string must not take the caller down with it
        try:
            return f"{record.msg!s} (log arguments could not be formatted)"
        except Exception:
            return "(log message could not be formatted)"


def install_redaction(handler: logging.Handler) -> RedactingFilter:
    """Attach a RedactingFilter to ``handler`` (once) and return it."""
    for existing in handler.filters:
        if isinstance(existing, RedactingFilter):
            return existing
    redacting = RedactingFilter(handler)
    handler.addFilter(redacting)
    return redacting


def setup_logging(level: str = "INFO") -> None:
    """Configure the root logger, redact every root handler, quiet the twilio SDK."""
    logging.basicConfig(level=level.upper(), format=FORMAT)
    for handler in logging.getLogger().handlers:
        install_redaction(handler)
    quiet_third_parties()


def quiet_third_parties() -> None:
    """Raise the level of loggers that would write URLs, headers or bodies at INFO."""
    for name in ("twilio", "twilio.http_client", "twilio.async_http_client"):
        logging.getLogger(name).setLevel(logging.WARNING)
