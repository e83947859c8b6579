"""Logging set-up: one line per event, key=value, and quiet third-party loggers."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(level: str = "INFO") -> None:
    """Configure the root logger; keep the twilio SDK from logging request details."""
    logging.basicConfig(level=level.upper(), format=FORMAT)
    quiet_third_parties()


def quiet_third_parties() -> None:
    """Raise the level of loggers that would write URLs, headers or bodies at INFO."""
    for name in ("twilio", "twilio.http_client", "twilio.async_http_client"):
        logging.getLogger(name).setLevel(logging.WARNING)
