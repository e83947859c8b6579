"""``GET /healthz``: the process is alive and the database answers."""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus

from aiohttp import web
from sqlalchemy import text

from helpline import appkeys

log = logging.getLogger(__name__)


async def healthz(request: web.Request) -> web.Response:
    """Answer 200 when the database answers within two seconds, else 503."""
    try:
        async with asyncio.timeout(2):
            async with request.app[appkeys.DB].reader() as session:
                await session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not healthy", never a traceback
        log.warning("health check failed: %s", type(exc).__name__)
        return web.json_response({"status": "unhealthy", "database": "unreachable"},
                                 status=HTTPStatus.SERVICE_UNAVAILABLE)
    return web.json_response({"status": "ok", "database": "ok"})


def setup_health(app: web.Application) -> None:
    """Add the health route."""
    app.router.add_get("/healthz", healthz)
