"""Specification of the redacting log filter, seen through a real handler's output."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from helpline.logs import FORMAT, RedactingFilter, install_redaction, setup_logging

NUMBER = "+447700900123"  # UK drama range


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Capture everything the root logger emits through a redacting StreamHandler."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter(FORMAT))
    install_redaction(handler)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_percent_args_are_redacted(stream: io.StringIO) -> None:
    """Test that a number passed as a %-argument never reaches the output."""
    logging.getLogger("helpline.test").info("reply to %s queued", NUMBER)
    assert "reply to [phone] queued" in stream.getvalue()
    assert "7700" not in stream.getvalue()


def test_fstring_message_is_redacted(stream: io.StringIO) -> None:
    """Test that a number already formatted into the message is redacted."""
    logging.getLogger("helpline.test").warning(f"cannot parse {NUMBER} or me@example.org")
    assert "cannot parse [phone] or [email]" in stream.getvalue()


def test_exception_message_is_redacted(stream: io.StringIO) -> None:
    """Test that a number in an exception's message is redacted from the traceback."""
    try:
        raise ValueError(f"not a number we can reply to: {NUMBER}")
    except ValueError:
        logging.getLogger("helpline.test").exception("send failed")
    output = stream.getvalue()
    assert "ValueError: not a number we can reply to: [phone]" in output
    assert "7700" not in output


def test_stack_info_is_redacted(stream: io.StringIO) -> None:
    """Test that stack text (stack_info=True) goes through redaction too."""
    # The stack shows this source line, comment and all.
    logging.getLogger("helpline.test").info("sent", stack_info=True)  # to 07700 900123
    assert "Stack (most recent call last)" in stream.getvalue()
    assert "7700" not in stream.getvalue()


# Shaped like a real account sid (hex with digits, which must survive redaction) but made
# up, and assembled here so that no sid-like literal sits in the repository.
FAKE_ACCOUNT_SID = "AC" + "f0e1d2c3b4a5968778695a4b3c2d1e0f"


def test_third_party_debug_line_is_redacted(stream: io.StringIO) -> None:
    """Test that a third-party library's DEBUG line loses the numbers in its request body."""
    logging.getLogger("twilio.http_client").debug(
        "-- BEGIN Twilio API Request --\nPOST Request: %s\nData: %r",
        f"https://api.twilio.com/2010-04-01/Accounts/{FAKE_ACCOUNT_SID}/Messages.json",
        {"To": "whatsapp:+447700900123", "From": "+447700900000"},
    )
    output = stream.getvalue()
    assert "'To': 'whatsapp:[phone]', 'From': '[phone]'" in output
    assert FAKE_ACCOUNT_SID in output


def test_access_log_line_is_redacted(stream: io.StringIO) -> None:
    """Test that an aiohttp access line with a number in its query string is redacted."""
    logging.getLogger("aiohttp.access").info(
        '%s [%s] "%s" %s', "127.0.0.1", "22/Nov/2026:03:14:54 +0000",
        "GET /console/search?q=07700900123 HTTP/1.1", 200,
    )
    assert (
        '127.0.0.1 [22/Nov/2026:03:14:54 +0000] "GET /console/search?q=[phone] HTTP/1.1" 200'
        in stream.getvalue()
    )


def test_unformattable_record_does_not_raise(stream: io.StringIO) -> None:
    """Test that a record whose args do not fit its format is logged, not raised, redacted."""
    logging.getLogger("helpline.test").info("two %s %s", NUMBER)
    output = stream.getvalue()
    assert "two %s %s (log arguments could not be formatted)" in output
    assert "7700" not in output


def test_filter_is_installed_once() -> None:
    """Test that installing redaction twice on a handler leaves one filter."""
    handler = logging.StreamHandler(io.StringIO())
    first = install_redaction(handler)
    assert install_redaction(handler) is first
    assert [f for f in handler.filters if isinstance(f, RedactingFilter)] == [first]


def test_setup_logging_redacts_root_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test that setup_logging puts a RedactingFilter on the root handler it creates."""
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    setup_logging("DEBUG")
    assert root.handlers
    assert all(
        any(isinstance(f, RedactingFilter) for f in handler.filters) for handler in root.handlers
    )
    assert logging.getLogger("twilio.http_client").level == logging.WARNING


def test_access_log_lines_survive_redaction() -> None:
    """Test that the service's access log format is not mistaken for a phone number."""
    from helpline.cli.serve import ACCESS_LOG_FORMAT
    from helpline.privacy.redact import redact

    line = (ACCESS_LOG_FORMAT.replace("%a", "127.0.0.1")
            .replace("%r", "POST /twilio/sms HTTP/1.1").replace("%s", "200")
            .replace("%b", "193").replace("%Tf", "0.008216"))
    assert redact(line) == line
