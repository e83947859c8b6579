"""Specification of redaction: what is replaced, and what an operator still gets to read."""

from __future__ import annotations

import pytest

from helpline.privacy.redact import EMAIL, PHONE, POSTCODE, redact, redact_mapping

# Phone numbers here are all in the UK drama range, 07700 900000-900999.


@pytest.mark.parametrize(
    "number",
    [
        "+447700900123",
        "07700900123",
        "07700 900123",
        "07700 900 123",
        "+44 7700 900123",
        "(07700) 900123",
        "+44 (0)7700 900123",
        "0044 7700 900123",
        "447700900123",
        "07700-900-123",
        "07700.900.123",
        "07700_900_123",
        "0 7 7 0 0 9 0 0 1 2 3",
        "07700\u00a0900123",
        "٠٧٧٠٠٩٠٠١٢٣",
        "０７７００９００１２３",
    ],
)
def test_number_form_is_redacted(number: str) -> None:
    """Test that a phone number written in any common form is replaced whole."""
    assert redact(f"call {number} now") == f"call {PHONE} now"


def test_whole_drama_range_is_caught() -> None:
    """Test that every UK drama-range number is caught, though is_valid_number rejects it."""
    leaks = [n for n in range(1000) if redact(f"07700 900{n:03d}") != PHONE]
    assert leaks == []


def test_whatsapp_address_keeps_its_channel() -> None:
    """Test that a WhatsApp address loses its number and keeps its prefix."""
    assert redact("from=whatsapp:+447700900123") == f"from=whatsapp:{PHONE}"


def test_url_encoded_number_is_redacted() -> None:
    """Test that a number in a URL-encoded form body (%2B for +) is redacted."""
    assert redact("From=%2B447700900123&To=%2B447700900000") == f"From=%2B{PHONE}&To=%2B{PHONE}"


def test_number_glued_to_letters_is_redacted() -> None:
    """Test that a number with letters on both sides is still found."""
    assert redact("tel07700900123x") == f"tel{PHONE}x"


def test_two_numbers_side_by_side_are_both_redacted() -> None:
    """Test that two numbers separated only by a space are both redacted."""
    assert redact("07700 900123 07700 900124") == f"{PHONE} {PHONE}"


def test_bare_run_of_ten_digits_is_redacted() -> None:
    """Test that a bare run of ten digits that could be a number is redacted."""
    assert redact("ref 7700900123") == f"ref {PHONE}"


def test_number_in_exception_text_is_redacted() -> None:
    """Test that a number inside a repr, as in an exception message, is redacted."""
    assert redact("ValueError('bad To: +447700900123')") == f"ValueError('bad To: {PHONE}')"


def test_email_address_is_redacted() -> None:
    """Test that an e-mail address, plus-tag and subdomains included, is replaced."""
    assert redact("reply to jo.bloggs+help@mail.example.co.uk.") == f"reply to {EMAIL}."


def test_email_made_of_a_number_is_one_email() -> None:
    """Test that a number used as an e-mail's local part is redacted as an e-mail."""
    assert redact("07700900123@example.com") == EMAIL


@pytest.mark.parametrize(
    "postcode", ["SW1A 1AA", "M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT", "W1A 0AX", "GIR 0AA"]
)
def test_postcode_is_redacted(postcode: str) -> None:
    """Test that a UK postcode in each standard shape is replaced."""
    assert redact(f"I'm near {postcode} now") == f"I'm near {POSTCODE} now"


@pytest.mark.parametrize("postcode", ["sw1a1aa", "SW1A1AA", "m1 1ae", "Dn55 1pt"])
def test_postcode_in_any_case_without_space_is_redacted(postcode: str) -> None:
    """Test that a postcode is found in any case, with or without its space."""
    assert redact(f"at {postcode}.") == f"at {POSTCODE}."


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-22 03:14:54,123 INFO helpline.outbox.sender: outbox 42 sent attempt=1",
        "outbox 42 attempt 3 failed (timeout); retry at 2026-11-22 03:14:54.123456+00:00",
        "flow timer due 2026-11-22T03:14:54Z",
        "job 1234 done in 0.0012345678901 s",
        "took 1234567 ms, 12345678 bytes",
        "elapsed 12.345678912",
        "report for 20261122 from client 10.20.30.40",
        "price £12.50, total £1,234.99",
        "alert 17 acknowledged by user 3 via sms",
        "127.0.0.1 [22/Nov/2026:03:14:54 +0000] \"POST /twilio/sms HTTP/1.1\" 200 150",
        "redelivered message ignored sid=SM0123456789abcdef0123456789abcdef",
        "conversation 123e4567-e89b-12d3-a456-426614174000 queued",
        "Meet me at the station at 10:30 tomorrow, ok? Childline is 0800 1111.",
        "loaded 12 flow versions from flows/ (safety v3, intake v10)",
    ],
)
def test_text_without_contact_details_is_untouched(text: str) -> None:
    """Test that timestamps, ids, durations, prices and sentences come back unchanged."""
    assert redact(text) == text


def test_sid_digits_are_never_taken_for_a_number() -> None:
    """Test that a Twilio SID whose hex holds a long digit run is kept whole."""
    sid = "SM07700900123a07700900123b07700901"
    assert redact(f"sid={sid}") == f"sid={sid}"


def test_mixed_line_redacts_each_kind() -> None:
    """Test that one line with a number, an e-mail and a postcode loses all three."""
    line = "Ring 07700 900123 or mail me@example.org, I'm at DN55 1PT"
    assert redact(line) == f"Ring {PHONE} or mail {EMAIL}, I'm at {POSTCODE}"


def test_mapping_is_redacted_deeply() -> None:
    """Test that redact_mapping follows nested dicts, lists and tuples and keeps keys."""
    report = {
        "outbox": 42,
        "to": "+447700900123",
        "wa_id": 447700900123,
        "notes": [{"text": "mail me@example.org"}, ("SW1A 1AA", 7)],
        "ok": True,
    }
    assert redact_mapping(report) == {
        "outbox": 42,
        "to": PHONE,
        "wa_id": PHONE,
        "notes": [{"text": f"mail {EMAIL}"}, (POSTCODE, 7)],
        "ok": True,
    }
