"""Bad input to the SMS webhook gets a 4xx with a reason and stores nothing."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from helpline.conversations.models import Contact, Conversation, Message
from helpline.db import Database
from helpline.outbox.models import OutboxMessage
from tests.conftest import PUBLIC_URL, TEXTER, TwilioWebhooks

VALID = {"MessageSid": "SM" + "1" * 32, "From": TEXTER, "To": "+447700900999", "Body": "hi"}


async def nothing_stored(db: Database) -> bool:
    """Return whether no contact, conversation, message or outbox row exists."""
    async with db.reader() as session:
        for model in (Contact, Conversation, Message, OutboxMessage):
            if (await session.execute(select(func.count()).select_from(model))).scalar_one():
                return False
    return True


@pytest.mark.parametrize("missing", ["MessageSid", "From", "Body"])
async def test_missing_parameter_is_named(twilio: TwilioWebhooks, db: Database,
                                          missing: str) -> None:
    """Test that a missing required parameter gets 400 naming it, and nothing is stored."""
    params = {k: v for k, v in VALID.items() if k != missing}
    response = await twilio.post("/twilio/sms", params)
    assert response.status == HTTPStatus.BAD_REQUEST
    assert f"{missing} is missing" in await response.text()
    assert await nothing_stored(db)


async def test_very_long_body_is_refused(twilio: TwilioWebhooks, db: Database) -> None:
    """Test that a 10,000-character body gets 413 with a reason and nothing is stored."""
    response = await twilio.post("/twilio/sms", {**VALID, "Body": "x" * 10_000})
    assert response.status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert "longer than" in await response.text()
    assert await nothing_stored(db)


async def test_invalid_utf8_is_refused(twilio: TwilioWebhooks, db: Database) -> None:
    """Test that a body that is not UTF-8 gets 400 and nothing is stored."""
    response = await twilio.client.post(
        "/twilio/sms",
        data=b"MessageSid=SM1&From=%2B447700900123&Body=%FF%FE",
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "X-Twilio-Signature": "irrelevant"},
    )
    assert response.status == HTTPStatus.BAD_REQUEST
    assert "UTF-8" in await response.text()
    assert await nothing_stored(db)


async def test_raw_invalid_bytes_are_refused(twilio: TwilioWebhooks, db: Database) -> None:
    """Test that raw non-UTF-8 bytes in the body get 400, not a 500."""
    response = await twilio.client.post(
        "/twilio/sms", data=b"Body=\xff\xfe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == HTTPStatus.BAD_REQUEST
    assert await nothing_stored(db)


@pytest.mark.parametrize("sender", ["not-a-number", "+44", "whatsapp:hello", "12"])
async def test_unknown_number_format_is_refused(twilio: TwilioWebhooks, db: Database,
                                                sender: str) -> None:
    """Test that a From that is not a phone number gets 400 and nothing is stored."""
    response = await twilio.post("/twilio/sms", {**VALID, "From": sender})
    assert response.status == HTTPStatus.BAD_REQUEST
    assert "From is" in await response.text()
    assert await nothing_stored(db)


async def test_get_is_refused(client: TestClient) -> None:
    """Test that a GET gets 405."""
    response = await client.get("/twilio/sms")
    assert response.status == HTTPStatus.METHOD_NOT_ALLOWED


async def test_json_body_is_refused(client: TestClient, db: Database) -> None:
    """Test that a JSON body gets 415 naming the expected type."""
    response = await client.post("/twilio/sms", json=VALID)
    assert response.status == HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    assert "x-www-form-urlencoded" in await response.text()
    assert await nothing_stored(db)


async def test_missing_signature_is_refused(client: TestClient, db: Database) -> None:
    """Test that an unsigned webhook gets 403 and nothing is stored."""
    response = await client.post("/twilio/sms", data=VALID)
    assert response.status == HTTPStatus.FORBIDDEN
    assert await nothing_stored(db)


async def test_forged_signature_is_refused(twilio: TwilioWebhooks, db: Database) -> None:
    """Test that a webhook signed with another token gets 403 and nothing is stored."""
    from helpline.channels.twilio.signature import TwilioSignature

    forged = TwilioSignature(auth_token="guess", public_url=PUBLIC_URL,
                             trust_proxy_headers=False).sign(PUBLIC_URL + "/twilio/sms", VALID)
    response = await twilio.post("/twilio/sms", VALID, signature=forged)
    assert response.status == HTTPStatus.FORBIDDEN
    assert await nothing_stored(db)


async def test_bad_message_sid_is_refused(twilio: TwilioWebhooks, db: Database) -> None:
    """Test that a MessageSid with odd characters gets 400."""
    response = await twilio.post("/twilio/sms", {**VALID, "MessageSid": "SM 1;drop"})
    assert response.status == HTTPStatus.BAD_REQUEST
    assert "MessageSid is not valid" in await response.text()
    assert await nothing_stored(db)


async def test_error_responses_carry_no_traceback(twilio: TwilioWebhooks) -> None:
    """Test that an error answer is a short reason, not a traceback."""
    response = await twilio.post("/twilio/sms", {"From": TEXTER})
    text = await response.text()
    assert "Traceback" not in text
    assert len(text) < 200
