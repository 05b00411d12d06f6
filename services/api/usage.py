"""`docker top` and `docker stats`: GET /containers/{id}/top and GET /containers/{id}/stats.

The supervisor answers one stats sample per container.stats call; this module holds no
state but the sample it sent last, whose cpu_stats and read become the next one's
precpu_stats and preread, as dockerd's do:
- stream (the default): a sample a second, each a JSON line, until the client goes or the
  container stops (its zeros object is the last line); the first with zeros for precpu.
- stream=false: two samples a second apart, the second sent (its precpu the first's).
- stream=false&one-shot=true: one sample at once, its precpu zeros.
A container that does not run: dockerd's object of zeros, once.
"""

from __future__ import annotations

import asyncio
import json
from typing import Awaitable, Callable

from aiohttp import web

from services.common import errors, wire

from . import container_events, keys, params
from .system import json_response

INTERVAL = 1.0   # seconds between two samples, as dockerd's collector


def _clients(request: web.Request) -> wire.Clients:
    return request.app[keys.CLIENTS]


async def top(request: web.Request) -> web.Response:
    result = await _clients(request).call("container.top", {
        "id": request.match_info["id"], "ps_args": params.text(request, "ps_args") or "-ef"})
    await container_events.record(_clients(request), request.match_info["id"], "top")
    return json_response({"Titles": result["titles"], "Processes": result["processes"]})


def with_previous(sample: dict, previous: dict | None) -> dict:
    """`sample` with the previous one's cpu_stats and read as its precpu_stats and preread."""
    if previous is not None:
        sample = {**sample, "precpu_stats": previous["cpu_stats"], "preread": previous["read"]}
    return sample


Sampler = Callable[[], Awaitable[dict]]   # one container.stats reply: {"running", "stats"}
Sleep = Callable[[float], Awaitable[None]]


async def samples(take: Sampler, stream: bool, one_shot: bool, sleep: Sleep = asyncio.sleep):
    """The stats objects to send, in order, as dockerd sends them (see the module's doc)."""
    previous = None
    first = True
    while True:
        reply = await take()
        if not reply["running"]:
            yield reply["stats"]
            return
        current = with_previous(reply["stats"], previous)
        if stream:
            yield current
        elif one_shot or not first:
            yield current
            return
        previous, first = reply["stats"], False
        await sleep(INTERVAL)


async def stats(request: web.Request) -> web.StreamResponse:
    stream = params.flag(request, "stream", True)
    one_shot = params.flag(request, "one-shot", False)
    if stream and one_shot:
        raise errors.BadParameter("cannot have stream=true and one-shot=true")
    cid = request.match_info["id"]
    clients = _clients(request)

    async def take() -> dict:
        return await clients.call("container.stats", {"id": cid})

    objects = samples(take, stream, one_shot)
    try:
        first = await objects.__anext__()   # before the status: an unknown container is a 404
        if not stream:
            return json_response(first)
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(json.dumps(first, separators=(",", ":")).encode() + b"\n")
        try:
            async for obj in objects:
                await response.write(json.dumps(obj, separators=(",", ":")).encode() + b"\n")
        except errors.NotFound:
            pass   # removed while streaming: the stream ends
        return response
    finally:
        await objects.aclose()
