"""The aiohttp application: middlewares (errors, versions), headers, route table."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import http_exceptions, web
from aiohttp.web_protocol import RequestHandler

from services.common import errors, wire
from services.common.config import Settings

from . import keys, routes, versions
from .container_list import ContainerLists
from .system import SERVER_HEADER, json_response

log = logging.getLogger("api")


# The longest request line and header a request may have: Docker takes a 64 KiB
# X-Registry-Auth (aiohttp's default is 8 KiB).
MAX_HEADER_BYTES = 64 << 10
# At shutdown, how long a request in progress may take to finish before it is cancelled:
# waits, followed logs and attaches end there, so none holds the service up.
SHUTDOWN_GRACE = 0.5

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


def _too_late(request: web.Request, what: str) -> None:
    """When a handler fails after its response has begun (a stream, a hijacked attach),
    no status can be sent any more: the connection is closed, so the client sees the
    stream end, and nothing more is written to it."""
    if request.writer is not None and request.writer.output_size > 0:
        log.info("%s %s ended early: %s", request.method, request.path, what)
        if request.transport is not None:
            request.transport.close()
        raise asyncio.CancelledError()


@web.middleware
async def error_middleware(request: web.Request, handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.DockyardError as exc:
        _too_late(request, exc.message)
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
    except asyncio.CancelledError:
        raise
    except ConnectionResetError:
        # The client went away: normal, and nothing is left to answer it.
        log.debug("%s %s: the client went away", request.method, request.path)
        raise asyncio.CancelledError() from None
    except Exception as exc:
        log.exception("%s %s failed", request.method, request.path)
        _too_late(request, f"internal error: {exc}")
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
    app[keys.CONTAINER_LISTS] = ContainerLists(clients, settings.exec_root)
    routes.register(app.router)
    app.on_response_prepare.append(_common_headers)
    return app


class Connection(RequestHandler):
    """aiohttp's HTTP connection, with Docker's header limits and its JSON error shape for
    requests that cannot be parsed (aiohttp answers those in plain text)."""

    def __init__(self, manager: web.Server, loop: asyncio.AbstractEventLoop):
        super().__init__(manager, loop=loop, access_log=None, max_line_size=MAX_HEADER_BYTES,
                         max_field_size=MAX_HEADER_BYTES)

    def handle_error(self, request, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status >= 500 or not isinstance(exc, http_exceptions.HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        if isinstance(exc, http_exceptions.LineTooLong):
            error: errors.DockyardError = errors.HeadersTooLarge(
                f"request header fields too large: the limit is {MAX_HEADER_BYTES} bytes a line")
        else:
            error = errors.BadParameter(f"malformed HTTP request: {exc.message or exc}")
        log.debug("refused a request: %s", error.message)
        response = error_response(error.kind, error.message)
        response.force_close()
        return response
