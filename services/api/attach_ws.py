"""GET /containers/{id}/attach/ws: attach over a websocket.

As dockerd (wsContainersAttach): the container's output goes out as websocket messages,
never multiplexed (binary messages from API 1.28, text before); the messages the client
sends are its stdin; `stdin`, `stdout` and `stderr` choose the streams from API 1.42 (all
three before); `logs`, `stream` and `detachKeys` as for the hijacked attach. The session
ends with the output, a detach, or the client's close.
"""

from __future__ import annotations

import asyncio

from aiohttp import WSMsgType, web

from services.common import errors

from . import attach, container_events, detach, keys, params

# The messages that end a websocket's input.
_ENDS = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)


class WebSocketInput:
    """A websocket's incoming messages as the client's stdin (detach.Source): its close is
    the end of its stdin, and the client gone."""

    def __init__(self, ws: web.WebSocketResponse):
        self.ws = ws
        self.lost = asyncio.Event()

    async def read(self) -> bytes | None:
        while not self.lost.is_set():
            msg = await self.ws.receive()
            if msg.type == WSMsgType.BINARY:
                return msg.data
            if msg.type == WSMsgType.TEXT:
                return msg.data.encode()
            if msg.type in _ENDS:
                self.lost.set()
        return None


async def websocket(request: web.Request) -> web.StreamResponse:
    clients = request.app[keys.CLIENTS]
    rec = await clients.call("container.inspect", {"id": request.match_info["id"]})
    detach_keys = detach.from_query(params.text(request, "detachKeys"))
    attach.check_attachable(rec, request.match_info["id"])
    api = request[keys.API]
    chosen = api.at_least("1.42")
    want = {k: params.flag(request, k) if chosen else True for k in ("stdin", "stdout", "stderr")}
    want.update({k: params.flag(request, k) for k in ("logs", "stream")})
    ws = web.WebSocketResponse()
    if not ws.can_prepare(request).ok:
        raise errors.BadParameter("this endpoint takes a websocket: a GET with Upgrade: websocket")
    await container_events.record(clients, rec["Id"], "attach")   # before the stream opens, as attach's
    await ws.prepare(request)
    source = WebSocketInput(ws)
    stdin = attach.client_input(rec, source, want["stdin"], detach_keys)
    binary = api.at_least("1.28")

    async def write(fd: int, data: bytes) -> None:
        if binary:
            await ws.send_bytes(data)
        else:
            await ws.send_str(data.decode(errors="replace"))
    await attach.session(clients, rec, stdin, attach.relay(clients, rec, want, stdin, write))
    try:
        await ws.close()
    except ConnectionError:
        pass   # the client went away
    return ws
