"""The parameters Twilio posts, as pydantic models that ignore what we do not use."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class TwilioParams(BaseModel):
    """Common parts of a Twilio webhook; unknown parameters are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, str_strip_whitespace=False)


class InboundMessage(TwilioParams):
    """An incoming SMS or WhatsApp message."""

    message_sid: str = Field(alias="MessageSid", min_length=2, max_length=64,
                             pattern=r"^[A-Za-z0-9]+$")
    from_: str = Field(alias="From", min_length=1, max_length=64)
    to: str = Field("", alias="To", max_length=64)
    body: str = Field(alias="Body")
    num_media: int = Field(0, alias="NumMedia", ge=0, le=50)


class StatusCallback(TwilioParams):
    """A delivery status callback for a message we sent."""

    message_sid: str = Field(alias="MessageSid", min_length=2, max_length=64,
                             pattern=r"^[A-Za-z0-9]+$")
    message_status: str = Field(alias="MessageStatus", min_length=1, max_length=16)
    error_code: int | None = Field(None, alias="ErrorCode")

    @field_validator("error_code", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value


def describe(error: ValidationError) -> str:
    """Return a short reason naming the Twilio parameters that are wrong (never their values)."""
    problems = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "body"
        message = "is missing" if item["type"] == "missing" else "is not valid"
        problems.append(f"{field} {message}")
    return "; ".join(problems)
