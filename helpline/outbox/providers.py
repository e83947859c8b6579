"""Where texts go: Twilio's REST API through the official SDK, or a local loopback."""

from __future__ import annotations

import asyncio
import base64
import collections
import itertools
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from helpline.privacy.addresses import mask

log = logging.getLogger(__name__)

TWILIO_API_BASE = "https://api.twilio.com"
OPTED_OUT = 21610  # "Attempt to send to unsubscribed recipient"
RETRYABLE_STATUS = {429, 500, 502, 503, 504}


class SendError(Exception):
    """A text could not be handed to the provider."""

    def __init__(self, reason: str, *, retryable: bool, code: int | None = None,
                 status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.code = code
        self.status = status

    @property
    def opted_out(self) -> bool:
        """Return whether the recipient has opted out (Twilio error 21610)."""
        return self.code == OPTED_OUT


class Provider(Protocol):
    """Something that delivers one text and returns its message sid."""

    async def send(self, *, to: str, body: str, channel: str) -> str:
        """Send ``body`` to ``to`` (a Twilio address); return the provider's sid."""
        ...


class _QuietRebasedHttpClient(AsyncTwilioHttpClient):
    """The SDK's async client, pointed at another base URL and never logging request data."""

    def __init__(self, base_url: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._base_url = base_url

    async def request(self, method: str, url: str, params: Any = None, data: Any = None,
                      headers: dict[str, str] | None = None, auth: tuple[str, str] | None = None,
                      **kwargs: Any) -> Any:
        if self._base_url and url.startswith(TWILIO_API_BASE):
            url = self._base_url + url[len(TWILIO_API_BASE):]
        if auth is not None:
            # aiohttp 3.14 deprecates auth=BasicAuth; send the same header ourselves.
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode("latin-1")).decode("ascii")
            headers = {**(headers or {}), "Authorization": f"Basic {token}"}
        return await super().request(method, url, params=params, data=data, headers=headers,
                                     auth=None, **kwargs)

    def log_request(self, kwargs: dict[str, Any]) -> None:
        # The SDK logs URLs and headers at INFO; ours say only what was called.
        log.debug("twilio request %s", kwargs.get("method"))

    def log_response(self, status_code: int, response: Any) -> None:
        log.debug("twilio response %s", status_code)


class TwilioProvider:
    """Send through Twilio's Messages API with the official SDK's async client."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        whatsapp_from: str | None,
        status_callback: str | None,
        api_url: str | None = None,
        timeout: float = 15.0,
    ) -> None:
        # The SDK's client opens an aiohttp session: build this inside a running loop.
        self._http = _QuietRebasedHttpClient(api_url)
        self._client = Client(account_sid, auth_token, http_client=self._http)
        self._from = from_number
        self._whatsapp_from = whatsapp_from or f"whatsapp:{from_number}"
        self._status_callback = status_callback
        self._timeout = timeout

    async def send(self, *, to: str, body: str, channel: str) -> str:
        """Create the message at Twilio and return its sid."""
        kwargs: dict[str, Any] = {
            "to": to,
            "from_": self._whatsapp_from if channel == "whatsapp" else self._from,
            "body": body,
        }
        if self._status_callback:
            kwargs["status_callback"] = self._status_callback
        try:
            async with asyncio.timeout(self._timeout):
                message = await self._client.messages.create_async(**kwargs)
        except TwilioRestException as exc:
            retryable = exc.status in RETRYABLE_STATUS
            raise SendError(
                f"twilio {exc.status} code {exc.code}",
                retryable=retryable,
                code=exc.code,
                status=exc.status,
            ) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise SendError(f"network: {type(exc).__name__}", retryable=True) from None
        return str(message.sid)

    async def close(self) -> None:
        """Close the SDK's HTTP session."""
        await self._http.close()


@dataclass(frozen=True)
class LoopbackText:
    """A text the loopback provider kept instead of sending."""

    sid: str
    at: datetime
    to_masked: str
    channel: str
    body: str = field(repr=False)


class LoopbackProvider:
    """Keep texts in memory for the development page; nothing leaves the machine."""

    def __init__(self, *, clock: Any, keep: int = 200) -> None:
        self._clock = clock
        self._counter = itertools.count(1)
        self.sent: collections.deque[LoopbackText] = collections.deque(maxlen=keep)

    async def send(self, *, to: str, body: str, channel: str) -> str:
        """Keep the text and return a made-up sid."""
        sid = f"LB{next(self._counter):08d}{secrets.token_hex(12)}"
        number = to.split(":", 1)[-1]
        self.sent.append(LoopbackText(sid, self._clock.now(), mask(number), channel, body))
        return sid

    async def close(self) -> None:
        """Nothing to close."""
