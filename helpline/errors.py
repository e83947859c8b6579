"""Turn unexpected failures into a short 500 without a traceback in the response."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from aiohttp import web

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer unexpected errors with a plain 500 and log the exception type and route."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        # The traceback names code, not data: SQL parameters are hidden by the engine.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return web.Response(status=HTTPStatus.INTERNAL_SERVER_ERROR,
                            text="internal error\n")


def setup_errors(app: web.Application) -> None:
    """Install the error middleware."""
    app.middlewares.append(error_middleware)
