"""Normalise the addresses Twilio gives us (``+447700900123``, ``whatsapp:+447...``)."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat


class AddressError(ValueError):
    """An address that is not a phone number we can reply to."""


@dataclass(frozen=True)
class Address:
    """A normalised contact address: the channel and the E.164 number."""

    channel: str  # "sms" or "whatsapp"
    e164: str

    @property
    def twilio(self) -> str:
        """Return the address as Twilio expects it in ``To``."""
        return f"whatsapp:{self.e164}" if self.channel == "whatsapp" else self.e164


def parse_address(raw: str, *, region: str = "GB") -> Address:
    """Parse a Twilio ``From``/``To`` value into an Address; raise AddressError if impossible."""
    value = raw.strip()
    channel = "sms"
    if value.lower().startswith("whatsapp:"):
        channel, value = "whatsapp", value.split(":", 1)[1]
    try:
        number = phonenumbers.parse(value, region)
    except NumberParseException as exc:
        raise AddressError("not a phone number") from exc
    # is_valid_number rejects the UK drama range (07700 900xxx) that tests use;
    # "possible" is what a reply needs.
    if not phonenumbers.is_possible_number(number):
        raise AddressError("not a possible phone number")
    return Address(channel=channel, e164=phonenumbers.format_number(number, PhoneNumberFormat.E164))


def mask(e164: str) -> str:
    """Return a number with all but its last three digits hidden (for development pages)."""
    return "•" * max(len(e164) - 3, 0) + e164[-3:]
