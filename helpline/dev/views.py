"""``/dev/``: text the service from a browser and read the replies the loopback kept."""

from __future__ import annotations

import html
import secrets

from aiohttp import web

from helpline import appkeys
from helpline.conversations.service import Inbound
from helpline.privacy.addresses import AddressError, parse_address

DEFAULT_FROM = "+447700900123"  # UK drama range: never a real person

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Helpline text simulator (development)</title>
<style>
 body{{font-family:system-ui,sans-serif;max-width:40rem;margin:1rem auto;padding:0 1rem}}
 textarea,input{{width:100%;font:inherit;padding:.4rem;box-sizing:border-box}}
 li{{margin:.5rem 0;padding:.5rem;background:#eef;border-radius:.5rem;white-space:pre-wrap}}
 small{{color:#555}} .note{{background:#ffd;padding:.5rem}}
</style></head><body>
<h1>Text simulator</h1>
<p class="note">Development only. Texts you send here go through the same conversation
service as Twilio's webhook; replies stay on the loopback provider and never leave
this machine. Use numbers from the drama range (07700 900000&ndash;900999).</p>
<form method="post" action="/dev/send">
<label>From <input name="from" value="{from_}" required></label>
<label>Message <textarea name="body" rows="3" required autofocus></textarea></label>
<p><button type="submit">Send text</button></p>
</form>
<h2>Replies (newest first)</h2>
<ul>{replies}</ul>
</body></html>"""


async def simulator(request: web.Request) -> web.Response:
    """Show the form and the texts the loopback provider kept."""
    loopback = request.app[appkeys.LOOPBACK]
    replies = "".join(
        f"<li><small>{html.escape(t.at.strftime('%H:%M:%S'))} to {html.escape(t.to_masked)} "
        f"({html.escape(t.channel)})</small><br>{html.escape(t.body)}</li>"
        for t in reversed(loopback.sent if loopback else [])
    ) or "<li><small>nothing sent yet</small></li>"
    return web.Response(text=PAGE.format(from_=html.escape(DEFAULT_FROM), replies=replies),
                        content_type="text/html")


async def send(request: web.Request) -> web.Response:
    """Hand a simulated text to the conversation service, as the SMS webhook would."""
    form = await request.post()
    raw_from, body = str(form.get("from", "")), str(form.get("body", ""))
    try:
        address = parse_address(raw_from, region=request.app[appkeys.SETTINGS].default_region)
    except AddressError as exc:
        raise web.HTTPBadRequest(text=f"From is {exc}\n") from None
    if not body.strip():
        raise web.HTTPBadRequest(text="Message is empty\n")
    inbound = Inbound(address=address, text=body, received_at=request.app[appkeys.CLOCK].now(),
                      provider_sid="SMdev" + secrets.token_hex(14))
    async with request.app[appkeys.DB].transaction() as session:
        await request.app[appkeys.CONVERSATIONS].receive(session, inbound=inbound)
    raise web.HTTPSeeOther("/dev/")


def setup_dev_pages(app: web.Application) -> None:
    """Add the development pages (only when the loopback provider is in use)."""
    app.router.add_get("/dev/", simulator)
    app.router.add_post("/dev/send", send)
    app.router.add_get("/dev", _to_simulator)


async def _to_simulator(_request: web.Request) -> web.Response:
    raise web.HTTPFound("/dev/")
