"""Pause, unpause and rename a container: POST /containers/{id}/pause, /unpause, /rename."""

from __future__ import annotations

from aiohttp import web

from services.common import errors

from . import keys, params


async def pause(request: web.Request) -> web.Response:
    await request.app[keys.CLIENTS].call("container.pause", {"id": request.match_info["id"]})
    return web.Response(status=204)


async def unpause(request: web.Request) -> web.Response:
    await request.app[keys.CLIENTS].call("container.unpause", {"id": request.match_info["id"]})
    return web.Response(status=204)


async def rename(request: web.Request) -> web.Response:
    name = params.text(request, "name")
    if not name:   # dockerd's words (daemon.ContainerRename)
        raise errors.BadParameter("Neither old nor new names may be empty")
    await request.app[keys.CLIENTS].call("container.rename", {"id": request.match_info["id"], "name": name})
    return web.Response(status=204)
