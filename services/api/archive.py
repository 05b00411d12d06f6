"""docker cp: HEAD, GET and PUT /containers/{id}/archive?path=..., as dockerd answers them.

HEAD and GET carry the path's stat in X-Docker-Container-Path-Stat (base64 of its JSON, as
Go marshals it); GET's body is the tar of the path, PUT's the tar to extract into the
directory it names (noOverwriteDirNonDir, copyUIDGID). The supervisor does the copy.
"""

from __future__ import annotations

import base64
import json

from aiohttp import web

from services.common import errors, wire

from . import container_events, keys, params, streams

STAT_HEADER = "X-Docker-Container-Path-Stat"


def _where(request: web.Request) -> dict:
    path = params.text(request, "path") or ""
    if not path:
        raise errors.BadParameter("bad parameter: path cannot be empty")
    if "\0" in path:
        raise errors.BadParameter("bad parameter: path holds a NUL byte")
    return {"id": request.match_info["id"], "path": path}


def stat_header(stat: dict) -> str:
    """The stat as dockerd's header carries it: Go's JSON (HTML characters escaped), base64."""
    text = json.dumps(stat, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return base64.b64encode(text.encode()).decode()


def _clients(request: web.Request) -> wire.Clients:
    return request.app[keys.CLIENTS]


async def head(request: web.Request) -> web.Response:
    result = await _clients(request).call("container.archive_stat", _where(request))
    return web.Response(status=200, headers={STAT_HEADER: stat_header(result["stat"])})


async def get(request: web.Request) -> web.StreamResponse:
    stream = await _clients(request).stream("container.archive_get", _where(request))
    try:
        first = await stream.__anext__()
    except StopAsyncIteration:
        raise errors.ServerError("the copy ended before it said what it copies") from None
    except BaseException:
        await stream.aclose()
        raise
    if not isinstance(first, dict) or "stat" not in first:
        await stream.aclose()
        raise errors.ServerError("the copy did not start with the path's stat")
    # As dockerd: once the copy is under way (its tar comes next).
    await container_events.record(_clients(request), request.match_info["id"], "archive-path")
    return await streams.relay_bytes(request, stream, "application/x-tar",
                                     headers={STAT_HEADER: stat_header(first["stat"])})


async def put(request: web.Request) -> web.Response:
    where = _where(request)
    # As dockerd: noOverwriteDirNonDir refuses only when given and true.
    await _clients(request).call("container.archive_put", {
        **where, "no_overwrite_dir_non_dir": params.flag(request, "noOverwriteDirNonDir"),
        "copy_uid_gid": params.flag(request, "copyUIDGID")}, upload=streams.request_body(request))
    await container_events.record(_clients(request), where["id"], "extract-to-dir")
    return web.Response(status=200)
