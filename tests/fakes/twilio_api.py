"""A fake of Twilio's Messages REST API on loopback, for the real twilio SDK to talk to."""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field
from http import HTTPStatus

from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class FakeTwilioApi:
    """Accept message creations like Twilio does; fail on demand."""

    account_sid: str
    auth_token: str
    fail_next: int = 0
    fail_status: int = HTTPStatus.SERVICE_UNAVAILABLE
    opted_out: set[str] = field(default_factory=set)
    delivered: list[dict[str, str]] = field(default_factory=list)
    attempts: int = 0
    _sids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def app(self) -> web.Application:
        """Return the aiohttp application that serves the fake API."""
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", self._create)
        return app

    async def _create(self, request: web.Request) -> web.Response:
        self.attempts += 1
        expected = "Basic " + base64.b64encode(
            f"{self.account_sid}:{self.auth_token}".encode()
        ).decode()
        if request.headers.get("Authorization") != expected:
            return _error(HTTPStatus.UNAUTHORIZED, 20003, "Authenticate")
        if request.match_info["account"] != self.account_sid:
            return _error(HTTPStatus.NOT_FOUND, 20404, "not found")
        form = await request.post()
        if self.fail_next > 0:
            self.fail_next -= 1
            if self.fail_status == 0:  # drop the connection mid-request
                assert request.transport is not None
                request.transport.close()
                raise web.HTTPServiceUnavailable
            return _error(self.fail_status, 20500 if self.fail_status >= 500 else 20429, "busy")
        to = str(form["To"])
        if to.split(":")[-1] in self.opted_out:
            return _error(HTTPStatus.BAD_REQUEST, 21610,
                          "Attempt to send to unsubscribed recipient")
        sid = f"SM{next(self._sids):032x}"
        message = {
            "sid": sid,
            "to": to,
            "from": str(form["From"]),
            "body": str(form["Body"]),
            "status_callback": str(form.get("StatusCallback", "")),
        }
        self.delivered.append(message)
        payload = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": message["to"],
            "from": message["from"],
            "body": message["body"],
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
        return web.json_response(payload, status=HTTPStatus.CREATED)


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {"code": code, "message": message, "more_info": "", "status": int(status)}, status=status
    )


async def start_fake_twilio(api: FakeTwilioApi) -> TestServer:
    """Start the fake on a free loopback port and return its server."""
    server = TestServer(api.app(), host="127.0.0.1")
    await server.start_server()
    return server
