"""The webhook's form parser: the pairs ``parse_qsl`` gives, and strict about UTF-8."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import pytest
from aiohttp import web

from helpline.channels.twilio.signature import MAX_FIELDS, parse_form

BODIES = [
    "From=%2B447700900123&Body=i+left+home+last+night+and+i%27m+scared&To=%2B447700900000",
    "a=%2B&b=+x+&c=&d", "=x", "a=%zz", "a=%2", "%41=1&&&a==b", "a=%%41", "x=%2b%2B%25",
    "a=1&a=2", "", "&", "+=+", "a=%7E%7e%20+",
    urlencode({"Body": "أنا خائفة", "From": "+447700900123"}),  # escapes above ASCII
    urlencode({"Body": "em sợ lắm 😢"}),
]


@pytest.mark.parametrize("body", BODIES)
def test_pairs_are_those_of_parse_qsl(body: str) -> None:
    """Test that either way of parsing gives exactly parse_qsl's pairs, in order."""
    expected = parse_qsl(body, keep_blank_values=True, encoding="utf-8", errors="strict")
    assert list(parse_form(body.encode()).items()) == expected


@pytest.mark.parametrize("body", [b"Body=%FF%FE", b"Body=ok&From=%C3%28", b"Body=\xff"])
def test_bytes_that_are_not_utf8_are_a_400(body: bytes) -> None:
    """Test that invalid UTF-8, raw or %-escaped, is refused rather than replaced."""
    with pytest.raises(web.HTTPBadRequest) as refused:
        parse_form(body)
    assert "UTF-8" in refused.value.text


@pytest.mark.parametrize("escape", ["", "%C3%A9"])
def test_too_many_fields_are_a_400(escape: str) -> None:
    """Test that more than MAX_FIELDS fields are refused, on either way of parsing."""
    body = "&".join(f"f{i}=x{escape}" for i in range(MAX_FIELDS + 1))
    with pytest.raises(web.HTTPBadRequest) as refused:
        parse_form(body.encode())
    assert "too many" in refused.value.text
