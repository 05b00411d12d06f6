"""A container's stdio: attach (hijacked, stdin in and output out) and the tty's size (its
logs: services.api.logs).

Output comes from the container's shim, which holds its log and knows when it grows: a
followed log and an attach follow it there (services.common.locator finds the shim of the
current start). The supervisor reads a log as it is, for a container that is not running
or whose shim is gone.
"""

from __future__ import annotations

import struct
from typing import AsyncIterator

from aiohttp import web

from services.common import errors, locator, wire

from . import container_events, detach, hijack, keys, params

MULTIPLEXED = "application/vnd.docker.multiplexed-stream"
RAW = "application/vnd.docker.raw-stream"


def _clients(request: web.Request) -> wire.Clients:
    return request.app[keys.CLIENTS]


def _frame(fd: int, data: bytes, multiplexed: bool) -> bytes:
    """Docker's stream framing: raw, or an 8-byte header (stream, 0, 0, 0, size) per frame."""
    if not multiplexed:
        return data
    return struct.pack(">BxxxI", fd, len(data)) + data


async def _stored(clients: wire.Clients, cid: str, query: dict) -> AsyncIterator[tuple[dict, bytes]]:
    """The container's log as it is now, read by the supervisor."""
    stream = await clients.stream("container.logs", {"id": cid, **query})
    try:
        async for chunk in stream:
            yield chunk
    finally:
        await stream.aclose()


def check_attachable(rec: dict, name: str) -> None:
    """dockerd's refusals, made before the connection is taken over."""
    state = rec["State"]
    if state.get("Paused"):
        raise errors.Conflict(f"container {name} is paused, unpause the container before attach")
    if state.get("Restarting"):
        raise errors.Conflict(f"container {name} is restarting, wait until the container is running")


def client_input(rec: dict, source: detach.Source | None, stdin: bool, detach_keys: bytes) -> detach.ClientInput:
    """The attached client's stdin, as dockerd takes it: only into a container with
    OpenStdin; detach keys with a tty; its end closes the container's stdin with StdinOnce
    and no tty, and ends the attach otherwise."""
    config = rec["Config"]
    tty = bool(config.get("Tty"))
    return detach.ClientInput(source, use_stdin=stdin and bool(config.get("OpenStdin")),
                              keys=detach_keys if tty else None, eof_ends=tty or not config.get("StdinOnce"))


async def attach(request: web.Request) -> web.StreamResponse:
    clients = _clients(request)
    rec = await clients.call("container.inspect", {"id": request.match_info["id"]})
    detach_keys = detach.from_query(params.text(request, "detachKeys"))
    check_attachable(rec, request.match_info["id"])
    legacy = request[keys.API].legacy
    multiplexed = not legacy and not rec["Config"].get("Tty")
    want = {k: params.flag(request, k) for k in ("logs", "stream", "stdin", "stdout", "stderr")}
    # Said before the stream opens: it comes before whatever the client does next (a start).
    await container_events.record(clients, rec["Id"], "attach")
    response, reader = await hijack.open_stream(request, MULTIPLEXED if multiplexed else RAW, legacy)
    stdin = client_input(rec, reader, want["stdin"], detach_keys)

    async def write(fd: int, data: bytes) -> None:
        await response.write(_frame(fd, data, multiplexed))
    await session(clients, rec, stdin, relay(clients, rec, want, stdin, write))
    return response


async def session(clients: wire.Clients, rec: dict, stdin: detach.ClientInput, output) -> None:
    """Run an attach's session (`output` relays the container's output); its `detach` event
    if the client's detach keys ended it (as dockerd: not the end of the output, of the
    client's stdin, or the client's going, which a half-close does not tell apart)."""
    try:
        await stdin.until_ended(output)
    except ConnectionError:
        pass   # the client went away
    if stdin.detached:
        await container_events.record(clients, rec["Id"], "detach")


async def relay(clients: wire.Clients, rec: dict, want: dict, stdin: detach.ClientInput, write) -> None:
    """The container's output to `write(fd, data)`, from its shim (with the client's stdin
    going up), or from its log when it does not run; `want`: the attach's flags."""
    want = dict(want)
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
                await write(meta["fd"] or 1, data)
            return
    except errors.DockyardError:
        if sent:
            return  # the shim went away mid-stream: the client sees the end
    if want["logs"] or want["stream"]:
        # Not running, or its shim is gone: what it wrote is in its log.
        query = {"stdout": want["stdout"], "stderr": want["stderr"], "since_ns": 0, "until_ns": 0,
                 "tail": -1 if want["logs"] else 0, "timestamps": False, "details": False}
        try:
            async for meta, data in _stored(clients, rec["Id"], query):
                await write(meta["fd"], data)
        except errors.DockyardError:
            pass  # too late for a status: the stream just ends


async def resize(request: web.Request) -> web.Response:
    clients = _clients(request)
    rec = await clients.call("container.inspect", {"id": request.match_info["id"]})
    if not rec["State"]["Running"]:
        raise errors.Conflict(f"Container {rec['Id'][:12]} is not running")
    size = {"height": params.integer(request, "h", 0, minimum=0), "width": params.integer(request, "w", 0, minimum=0)}
    await locator.call(clients, rec["Id"], rec["State"]["Pid"], "shim.resize", size)
    await container_events.record(clients, rec["Id"], "resize", **size)
    return web.Response(status=200)
