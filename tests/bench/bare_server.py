"""A bare aiohttp handler that only checks the Twilio signature: the benchmark's ceiling."""

from __future__ import annotations

import argparse

from aiohttp import web
from twilio.request_validator import RequestValidator

from helpline.settings import DEVELOPMENT_AUTH_TOKEN


def make_app(public_url: str, auth_token: str = DEVELOPMENT_AUTH_TOKEN) -> web.Application:
    """Return an app whose ``POST /twilio/sms`` reads the form, validates and answers TwiML."""
    validator = RequestValidator(auth_token)
    public_url = public_url.rstrip("/")

    async def sms(request: web.Request) -> web.Response:
        form = await request.post()
        signature = request.headers.get("X-Twilio-Signature", "")
        if not validator.validate(f"{public_url}{request.rel_url}", form, signature):
            return web.Response(status=403, text="invalid Twilio signature\n")
        return web.Response(text="<Response/>", content_type="text/xml")

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/twilio/sms", sms)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    """Serve the bare handler on loopback until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--public-url", required=True)
    args = parser.parse_args()
    web.run_app(make_app(args.public_url), host="127.0.0.1", port=args.port,
                print=None, access_log=None)


if __name__ == "__main__":
    main()
