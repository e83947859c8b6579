"""``GET /healthz``: the process is alive, the database answers, no text waits for a person."""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus

from aiohttp import web

from helpline import appkeys
from helpline.inbox.models import FAILED
from helpline.inbox.service import waiting_counts

log = logging.getLogger(__name__)


async def healthz(request: web.Request) -> web.Response:
    """Answer 200 when the database answers within two seconds, else 503.

    With it, how many texts wait to be filed and how many the worker could not file.
    A failed text is kept for a person (``helpline inbox show``): while there is one,
    ``status`` says ``attention``, still with 200, since restarting would not help.
    """
    try:
        async with asyncio.timeout(2):
            async with request.app[appkeys.DB].reader() as session:
                counts = await waiting_counts(session)
    except Exception as exc:  # any failure means "not healthy", never a traceback
        log.warning("health check failed: %s", type(exc).__name__)
        return web.json_response({"status": "unhealthy", "database": "unreachable"},
                                 status=HTTPStatus.SERVICE_UNAVAILABLE)
    return web.json_response({"status": "attention" if counts[FAILED] else "ok",
                              "database": "ok", "inbox": counts})


def setup_health(app: web.Application) -> None:
    """Add the health route."""
    app.router.add_get("/healthz", healthz)
