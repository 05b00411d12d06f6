"""The aiohttp application: middlewares (errors, versions), headers, route table."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from services.common import errors, release, wire
from services.common.config import Settings

from . import keys, routes, versions
from .system import json_response

log = logging.getLogger("api")

SERVER_HEADER = f"Dockyard/{release.VERSION} (linux)"

# After an early error, this much of an unread request body is read and dropped, so the
# client can finish sending and read the answer (as Go's net/http does, more generously).
DRAIN_LIMIT = 256 << 20
DRAIN_SECONDS = 10

_HTTP_MESSAGES = {
    404: "page not found",
    405: "method not allowed",
}


def error_response(kind: str, message: str) -> web.Response:
    status = errors.http_status(kind)
    if status == 304:
        return web.Response(status=304)
    return json_response({"message": message}, status=status)


async def _drain(request: web.Request) -> None:
    if not request.body_exists or request.content.at_eof():
        return
    left = DRAIN_LIMIT
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            while left > 0:
                chunk = await request.content.readany()
                if not chunk:
                    return
                left -= len(chunk)
    except (asyncio.TimeoutError, ConnectionError):
        pass


@web.middleware
async def error_middleware(request: web.Request, handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.DockyardError as exc:
        await _drain(request)
        return error_response(exc.kind, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 413:
            limit = request.app[keys.SETTINGS].max_json_body
            message = f"request body is larger than the limit of {limit} bytes"
        else:
            message = _HTTP_MESSAGES.get(exc.status, exc.reason)
        return json_response({"message": message}, status=exc.status)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return json_response({"message": "internal server error"}, status=500)


@web.middleware
async def version_middleware(request: web.Request, handler) -> web.StreamResponse:
    request[keys.API] = versions.resolve(request.match_info.get("version"))
    return await handler(request)


async def _common_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["API-Version"] = versions.API_VERSION
    response.headers["Server"] = SERVER_HEADER


def make_app(settings: Settings, clients: wire.Clients) -> web.Application:
    app = web.Application(
        middlewares=[error_middleware, version_middleware],
        client_max_size=settings.max_json_body,
    )
    app[keys.SETTINGS] = settings
    app[keys.CLIENTS] = clients
    routes.register(app.router)
    app.on_response_prepare.append(_common_headers)
    return app
