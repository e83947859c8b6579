"""Twilio's own published signature vectors pass through our validation path."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import pytest
from aiohttp import web
from twilio.request_validator import HMAC_SHA256, SIGNATURE_SETTINGS_HEADER, RequestValidator

from helpline.channels.twilio.signature import TwilioSignature, read_form

# From twilio-python's tests/unit/test_request_validator.py. These numbers are part of
# the public vectors (the signature covers them), not people's numbers.
TOKEN = "12345"
PATH = "/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}
DUPLICATE_PARAMS = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"),
                    ("Digits", "1234")]


async def bare_app_client(aiohttp_client: Any, public_url: str, *,
                          trust_proxy_headers: bool = False) -> Any:
    """Return a client for a bare app whose one route only checks the signature."""
    signature = TwilioSignature(auth_token=TOKEN, public_url=public_url,
                                trust_proxy_headers=trust_proxy_headers)

    async def handler(request: web.Request) -> web.Response:
        signature.check(request, await read_form(request))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/myapp.php", handler)
    return await aiohttp_client(app)


@pytest.mark.parametrize(
    ("public_url", "expected"),
    [
        ("https://mycompany.com", "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        ("https://mycompany.com:1234", "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        ("https://mycompany.com", "kvajT1Ptam85bY51eRf/AJRuM3w="),
        ("http://mycompany.com:1234", "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
        ("http://mycompany.com", "0ZXoZLH/DfblKGATFgpif+LLRf4="),
    ],
)
async def test_published_vectors_are_accepted(aiohttp_client: Any, public_url: str,
                                              expected: str) -> None:
    """Test that each published signature vector is accepted, with and without ports."""
    client = await bare_app_client(aiohttp_client, public_url)
    response = await client.post(PATH, data=PARAMS, headers={"X-Twilio-Signature": expected})
    assert response.status == HTTPStatus.OK


async def test_duplicate_keys_vector_is_accepted(aiohttp_client: Any) -> None:
    """Test that the vector with a repeated parameter name is accepted."""
    client = await bare_app_client(aiohttp_client, "https://mycompany.com")
    response = await client.post(PATH, data=DUPLICATE_PARAMS,
                                 headers={"X-Twilio-Signature": "IK+Dwps556ElfBT0I3Rgjkr1wJU="})
    assert response.status == HTTPStatus.OK


async def test_forged_signature_is_refused(aiohttp_client: Any) -> None:
    """Test that a signature computed with another token is refused with 403."""
    client = await bare_app_client(aiohttp_client, "https://mycompany.com")
    forged = TwilioSignature(auth_token="54321", public_url="https://mycompany.com",
                             trust_proxy_headers=False).sign("https://mycompany.com" + PATH, PARAMS)
    response = await client.post(PATH, data=PARAMS, headers={"X-Twilio-Signature": forged})
    assert response.status == HTTPStatus.FORBIDDEN


async def test_tampered_parameter_is_refused(aiohttp_client: Any) -> None:
    """Test that changing one parameter after signing is refused."""
    client = await bare_app_client(aiohttp_client, "https://mycompany.com")
    tampered = {**PARAMS, "Digits": "9999"}
    response = await client.post(PATH, data=tampered,
                                 headers={"X-Twilio-Signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8="})
    assert response.status == HTTPStatus.FORBIDDEN


async def test_request_url_is_not_trusted_without_proxy_setting(aiohttp_client: Any) -> None:
    """Test that a signature made for the URL the app sees (not the public one) is refused."""
    client = await bare_app_client(aiohttp_client, "https://mycompany.com")
    local_url = str(client.make_url(PATH))
    sig = TwilioSignature(auth_token=TOKEN, public_url="", trust_proxy_headers=False).sign(
        local_url, PARAMS)
    response = await client.post(PATH, data=PARAMS, headers={"X-Twilio-Signature": sig})
    assert response.status == HTTPStatus.FORBIDDEN


async def test_proxy_headers_are_used_only_when_trusted(aiohttp_client: Any) -> None:
    """Test that X-Forwarded-* decide the signed URL only with trust_proxy_headers on."""
    client = await bare_app_client(aiohttp_client, "https://ignored.example",
                                   trust_proxy_headers=True)
    headers = {"X-Twilio-Signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
               "X-Forwarded-Proto": "https", "X-Forwarded-Host": "mycompany.com"}
    assert (await client.post(PATH, data=PARAMS, headers=headers)).status == HTTPStatus.OK
    untrusted = await bare_app_client(aiohttp_client, "https://elsewhere.example")
    assert (await untrusted.post(PATH, data=PARAMS, headers=headers)).status == \
        HTTPStatus.FORBIDDEN


async def test_sha256_signature_announced_in_its_header_is_accepted(aiohttp_client: Any) -> None:
    """Test that an HMAC-SHA256 signature named in the signature-settings header passes."""
    client = await bare_app_client(aiohttp_client, "https://mycompany.com")
    signed = RequestValidator(TOKEN).compute_signature("https://mycompany.com" + PATH, PARAMS,
                                                       HMAC_SHA256)
    settings = {SIGNATURE_SETTINGS_HEADER: "key=webhooks_sharedkey_x,algorithm=HMAC_SHA256"}
    response = await client.post(PATH, data=PARAMS,
                                 headers={"X-Twilio-Signature": signed, **settings})
    assert response.status == HTTPStatus.OK
    sha1_claimed = await client.post(PATH, data=PARAMS, headers={"X-Twilio-Signature": signed})
    assert sha1_claimed.status == HTTPStatus.FORBIDDEN


async def test_unknown_signature_algorithm_is_refused(aiohttp_client: Any) -> None:
    """Test that a webhook naming an algorithm the SDK does not know gets 403, not a 500."""
    client = await bare_app_client(aiohttp_client, "https://mycompany.com")
    headers = {"X-Twilio-Signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
               SIGNATURE_SETTINGS_HEADER: "algorithm=HMAC_MD5"}
    response = await client.post(PATH, data=PARAMS, headers=headers)
    assert response.status == HTTPStatus.FORBIDDEN
