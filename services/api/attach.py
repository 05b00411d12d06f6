"""A container's stdio: attach (hijacked, stdin in and output out), logs, and the tty's size.

Output comes from the container's shim, which holds its log and knows when it grows: a
followed log and an attach follow it there (services.common.locator finds the shim of the
current start). The supervisor reads a log as it is, for a container that is not running
or whose shim is gone.
"""

from __future__ import annotations

import struct
from typing import AsyncIterator

from aiohttp import web

from services.common import errors, locator, timefmt, wire

from . import hijack, keys, params

MULTIPLEXED = "application/vnd.docker.multiplexed-stream"
RAW = "application/vnd.docker.raw-stream"


def _clients(request: web.Request) -> wire.Clients:
    return request.app[keys.CLIENTS]


def _frame(fd: int, data: bytes, multiplexed: bool) -> bytes:
    """Docker's stream framing: raw, or an 8-byte header (stream, 0, 0, 0, size) per frame."""
    if not multiplexed:
        return data
    return struct.pack(">BxxxI", fd, len(data)) + data


def _since(request: web.Request, name: str) -> float:
    raw = params.text(request, name)
    if not raw:
        return 0.0
    try:
        return float(raw)
    except ValueError:
        try:
            return timefmt.parse(raw).timestamp()
        except ValueError:
            raise errors.BadParameter(f"invalid value for {name}: {raw!r}") from None


async def _stored(clients: wire.Clients, cid: str, query: dict) -> AsyncIterator[tuple[dict, bytes]]:
    """The container's log as it is now, read by the supervisor."""
    stream = await clients.stream("container.logs", {"id": cid, **query})
    try:
        async for chunk in stream:
            yield chunk
    finally:
        await stream.aclose()


async def logs(request: web.Request) -> web.StreamResponse:
    clients = _clients(request)
    rec = await clients.call("container.inspect", {"id": request.match_info["id"]})
    stdout, stderr = params.flag(request, "stdout"), params.flag(request, "stderr")
    if not (stdout or stderr):
        raise errors.BadParameter("you must choose at least one stream (stdout or stderr)")
    tail_text = params.text(request, "tail") or "all"
    tail = -1 if tail_text == "all" else params.integer(request, "tail", -1, minimum=0)
    timestamps = params.flag(request, "timestamps")
    query = {"stdout": stdout, "stderr": stderr, "since": _since(request, "since"),
             "until": _since(request, "until"), "tail": tail, "timestamps": timestamps}
    multiplexed = not rec["Config"].get("Tty")
    response = web.StreamResponse(status=200, headers={"Content-Type": MULTIPLEXED if multiplexed else RAW})
    await response.prepare(request)
    sent = False
    try:
        if params.flag(request, "follow") and rec["State"]["Running"]:
            try:
                async for meta, data in locator.stream(clients, rec["Id"], rec["State"]["Pid"], "shim.logs", query):
                    sent = True
                    await response.write(_frame(meta["fd"], _stamped(meta, data, timestamps), multiplexed))
                return response
            except errors.Unavailable:
                if sent:
                    return response  # the shim went away mid-stream: the client sees the end
        async for meta, data in _stored(clients, rec["Id"], query):
            await response.write(_frame(meta["fd"], _stamped(meta, data, timestamps), multiplexed))
    except errors.DockyardError:
        pass  # the log ends here; the client sees the stream close
    return response


def _stamped(meta: dict, data: bytes, timestamps: bool) -> bytes:
    return meta["time"].encode() + b" " + data if timestamps else data


async def attach(request: web.Request) -> web.StreamResponse:
    clients = _clients(request)
    rec = await clients.call("container.inspect", {"id": request.match_info["id"]})
    legacy = request[keys.API].legacy
    multiplexed = not legacy and not rec["Config"].get("Tty")
    want = {k: params.flag(request, k) for k in ("logs", "stream", "stdin", "stdout", "stderr")}
    response, stdin = await hijack.open_stream(request, MULTIPLEXED if multiplexed else RAW, legacy, want["stdin"])
    pid = rec["State"]["Pid"] if rec["State"]["Running"] else 0
    sent = False
    try:
        if rec["State"]["Status"] == "created" and want["stream"]:
            # The docker CLI attaches before it starts the container: wait for the start (and
            # its shim to serve), then take its output from the beginning. The shim keeps its
            # log open, so this works even if the container is gone again (--rm) by now.
            pid = (await clients.call("container.started", {"id": rec["Id"]}))["pid"]
            want["logs"] = True
        if pid:
            args = {k: want[k] for k in ("stdin", "stdout", "stderr", "logs", "stream")}
            async for meta, data in locator.stream(clients, rec["Id"], pid, "shim.attach", args, upload=stdin):
                sent = True
                await response.write(_frame(meta["fd"] or 1, data, multiplexed))
            return response
    except errors.DockyardError:
        if sent:
            return response  # the shim went away mid-stream: the client sees the end
    if want["logs"] or want["stream"]:
        # Not running, or its shim is gone: what it wrote is in its log.
        query = {"stdout": want["stdout"], "stderr": want["stderr"], "since": 0.0, "until": 0.0,
                 "tail": -1 if want["logs"] else 0, "timestamps": False}
        try:
            async for meta, data in _stored(clients, rec["Id"], query):
                await response.write(_frame(meta["fd"], data, multiplexed))
        except errors.DockyardError:
            pass  # too late for a status: the stream just ends
    return response


async def resize(request: web.Request) -> web.Response:
    clients = _clients(request)
    rec = await clients.call("container.inspect", {"id": request.match_info["id"]})
    if not rec["State"]["Running"]:
        raise errors.Conflict(f"Container {rec['Id'][:12]} is not running")
    size = {"height": params.integer(request, "h", 0, minimum=0), "width": params.integer(request, "w", 0, minimum=0)}
    await locator.call(clients, rec["Id"], rec["State"]["Pid"], "shim.resize", size)
    return web.Response(status=200)
