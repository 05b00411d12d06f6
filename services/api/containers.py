"""Container endpoints: list, prune, create, inspect, changes, export, start, stop, restart, kill,
attach, wait, remove, logs, resize, and POST /commit."""

from __future__ import annotations

import asyncio
import json
import struct
from typing import AsyncIterator

from aiohttp import web

from services.common import errors, timefmt, wire

from . import filters, hijack, keys, params, shapes, streams
from .system import json_response

# How long an attach keeps trying to reach the shim of a running container.
SHIM_ATTACH_WAIT = 15.0


def _clients(request: web.Request) -> wire.Clients:
    return request.app[keys.CLIENTS]


def _id(request: web.Request) -> str:
    return request.match_info["id"]


def _no_content(request: web.Request, legacy_status: int = 204) -> web.Response:
    return web.Response(status=legacy_status if request[keys.API].legacy else 204)


async def list_containers(request: web.Request) -> web.Response:
    result = await _clients(request).call("container.list", {
        "all": params.flag(request, "all"),
        "limit": params.integer(request, "limit", -1),
        "since": params.text(request, "since") or None,
        "before": params.text(request, "before") or None,
        "filters": filters.from_request(request, filters.CONTAINER_LIST),
    })
    return json_response(shapes.for_request(request).container_list(result["containers"], request[keys.API]))


async def prune(request: web.Request) -> web.Response:
    """POST /containers/prune: remove the stopped containers the filters name."""
    wanted = filters.from_request(request, filters.CONTAINER_PRUNE)
    result = await _clients(request).call("container.prune", {
        "until": filters.until(wanted), "label": wanted.get("label", []), "label_not": wanted.get("label!", [])})
    return json_response({"ContainersDeleted": result["deleted"] or None,
                          "SpaceReclaimed": result["space_reclaimed"]})


async def create(request: web.Request) -> web.Response:
    body = await params.json_body(request, required=True)
    if not isinstance(body, dict):
        raise errors.BadParameter("the container config must be a JSON object")
    host = body.get("HostConfig")  # as sent: the supervisor checks its type (null is none)
    config = {k: v for k, v in body.items() if k not in ("HostConfig", "NetworkingConfig")}
    result = await _clients(request).call("container.create", {
        "config": config, "host_config": host, "networking_config": body.get("NetworkingConfig"),
        "name": params.text(request, "name") or None})
    return json_response(shapes.for_request(request).container_created(result), status=201)


async def inspect(request: web.Request) -> web.Response:
    rec = await _clients(request).call("container.inspect", {"id": _id(request)})
    return json_response(shapes.for_request(request).container_inspect(rec, request[keys.API]))


async def changes(request: web.Request) -> web.Response:
    result = await _clients(request).call("container.changes", {"id": _id(request)})
    return json_response(shapes.for_request(request).container_changes(result["changes"]))


async def export(request: web.Request) -> web.StreamResponse:
    stream = await _clients(request).stream("container.export", {"id": _id(request)})
    return await streams.relay_bytes(request, stream, "application/octet-stream")


async def start(request: web.Request) -> web.Response:
    # Clients before 1.24 could send a host config here; it is read and checked, not applied.
    await params.json_body(request)
    await _clients(request).call("container.start", {"id": _id(request)})
    return _no_content(request, 200)


async def stop(request: web.Request) -> web.Response:
    await _clients(request).call("container.stop", {"id": _id(request), "timeout": params.integer(request, "t")})
    return _no_content(request)


async def restart(request: web.Request) -> web.Response:
    await _clients(request).call("container.restart", {"id": _id(request),
                                                       "timeout": params.integer(request, "t")})
    return _no_content(request)


async def kill(request: web.Request) -> web.Response:
    await _clients(request).call("container.kill", {"id": _id(request),
                                                    "signal": params.text(request, "signal") or None})
    return _no_content(request)


async def wait(request: web.Request) -> web.StreamResponse:
    clients = _clients(request)
    condition = params.text(request, "condition") or None
    if condition not in (None, "not-running", "next-exit", "removed"):
        raise errors.BadParameter(f"invalid condition {condition!r}")
    rec = await clients.call("container.inspect", {"id": _id(request)})
    # As dockerd does, the head goes out at once (the docker CLI starts the container only
    # once its wait is acknowledged); the body when the container stops. A next exit is the
    # one after those counted now, however soon after the head the container starts.
    exits = rec["Dockyard"].get("exits", 0) if condition == "next-exit" else None
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await response.prepare(request)
    while True:
        try:
            result = await clients.call("container.wait", {"id": rec["Id"], "condition": condition,
                                                           "exits": exits})
            break
        except errors.Unavailable:
            if clients.closed:  # this api is stopping: the container is not
                result = {"exit_code": -1, "error": "the daemon is stopping; the container may still be running"}
                break
            await asyncio.sleep(0.2)  # the supervisor is restarting: wait for it, then again
        except errors.DockyardError as exc:
            result = {"exit_code": -1, "error": exc.message}
            break
    body = shapes.for_request(request).wait_result(result)
    await response.write(json.dumps(body, separators=(",", ":")).encode() + b"\n")
    await response.write_eof()
    return response


async def remove(request: web.Request) -> web.Response:
    await _clients(request).call("container.remove", {
        "id": _id(request), "force": params.flag(request, "force"), "volumes": params.flag(request, "v")})
    return web.Response(status=204)


async def resize(request: web.Request) -> web.Response:
    rec = await _clients(request).call("container.inspect", {"id": _id(request)})
    if not rec["State"]["Running"]:
        raise errors.Conflict(f"Container {rec['Id'][:12]} is not running")
    size = {"height": params.integer(request, "h", 0, minimum=0), "width": params.integer(request, "w", 0, minimum=0)}
    with _clients(request).connection(wire.shim_name(rec["Id"])) as shim:
        await shim.call("shim.resize", {"pid": rec["State"]["Pid"], **size})
    return web.Response(status=200)


async def commit(request: web.Request) -> web.Response:
    container = params.text(request, "container")
    if not container:
        raise errors.BadParameter("container is required")
    body = await params.json_body(request) or {}
    if not isinstance(body, dict):
        raise errors.BadParameter("the commit config must be a JSON object")
    result = await _clients(request).call("container.commit", {
        "id": container, "repo": params.text(request, "repo") or None,
        "tag": params.text(request, "tag") or None, "comment": params.text(request, "comment",
                                                                           params.text(request, "m")) or None,
        "author": params.text(request, "author") or None, "config": body})
    return json_response(shapes.for_request(request).committed(result["id"]), status=201)


# --------------------------------------------------------------- stdio streams

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


async def logs(request: web.Request) -> web.StreamResponse:
    rec = await _clients(request).call("container.inspect", {"id": _id(request)})
    stdout, stderr = params.flag(request, "stdout"), params.flag(request, "stderr")
    if not (stdout or stderr):
        raise errors.BadParameter("you must choose at least one stream (stdout or stderr)")
    tail_text = params.text(request, "tail") or "all"
    tail = -1 if tail_text == "all" else params.integer(request, "tail", -1, minimum=0)
    timestamps = params.flag(request, "timestamps")
    stream = await _clients(request).stream("container.logs", {
        "id": rec["Id"], "stdout": stdout, "stderr": stderr, "follow": params.flag(request, "follow"),
        "since": _since(request, "since"), "until": _since(request, "until"), "tail": tail,
        "timestamps": timestamps})
    multiplexed = not rec["Config"].get("Tty")
    response = web.StreamResponse(status=200, headers={"Content-Type": (
        "application/vnd.docker.multiplexed-stream" if multiplexed else "application/vnd.docker.raw-stream")})
    await response.prepare(request)
    try:
        async for meta, data in stream:
            if timestamps:
                data = meta["time"].encode() + b" " + data
            await response.write(_frame(meta["fd"], data, multiplexed))
    except errors.DockyardError:
        pass  # the log ends here; the client sees the stream close
    finally:
        await stream.aclose()
    return response


async def _empty() -> AsyncIterator[bytes]:
    return
    yield


async def attach(request: web.Request) -> web.StreamResponse:
    rec = await _clients(request).call("container.inspect", {"id": _id(request)})
    legacy = request[keys.API].legacy
    tty = bool(rec["Config"].get("Tty"))
    multiplexed = not legacy and not tty
    want = {k: params.flag(request, k) for k in ("logs", "stream", "stdin", "stdout", "stderr")}
    reader = hijack.take_over(request)
    upgraded = reader is not None
    headers = {"Content-Type": "application/vnd.docker.multiplexed-stream" if multiplexed
               else "application/vnd.docker.raw-stream"}
    # 101 to a client that asked to upgrade (as the docker CLI does), else 200, as Docker.
    upgrade = upgraded and not legacy and hijack.asked_to_upgrade(request)
    if upgrade:
        headers.update({"Connection": "Upgrade", "Upgrade": "tcp"})
    response = hijack.RawResponse(status=101 if upgrade else 200, headers=headers)
    await response.prepare(request)
    stdin = reader.chunks() if (reader is not None and want["stdin"]) else _empty()
    clients = _clients(request)
    pid = rec["State"]["Pid"] if rec["State"]["Running"] else 0
    sent = False
    try:
        if rec["State"]["Status"] == "created" and want["stream"]:
            # The docker CLI attaches before it starts the container: wait for the start, then
            # take its output from the beginning (its log holds nothing older). The shim keeps
            # its log open, so this works even if the container is gone again (--rm) by now.
            pid = (await clients.call("container.started", {"id": rec["Id"]}))["pid"]
            want["logs"] = True
        if pid:
            args = {"pid": pid, **{k: want[k] for k in ("stdin", "stdout", "stderr", "logs", "stream")}}
            loop = asyncio.get_running_loop()
            deadline = loop.time() + SHIM_ATTACH_WAIT
            while True:
                try:
                    with clients.connection(wire.shim_name(rec["Id"])) as shim:
                        stream = await shim.stream("shim.attach", args, upload=stdin)
                        try:
                            async for meta, data in stream:
                                sent = True
                                await response.write(_frame(meta["fd"] or 1, data, multiplexed))
                        finally:
                            await stream.aclose()
                    return response
                except errors.Conflict:
                    if loop.time() > deadline:
                        raise
                    await asyncio.sleep(0.01)  # an earlier start's shim: connect again
                except errors.Unavailable:
                    # A shim binds its socket after it reports the start: on a busy host (many
                    # starting at once) it may not be there yet. Not so if the container is over.
                    if sent or loop.time() > deadline or not (await clients.call(
                            "container.inspect", {"id": rec["Id"]}))["State"]["Running"]:
                        raise
    except errors.DockyardError:
        if sent:
            return response  # the shim went away mid-stream: the client sees the end
    try:
        await _attach_logs(clients, rec, want, response, multiplexed)
    except errors.DockyardError:
        pass  # too late for a status: the stream just ends
    return response


async def _attach_logs(clients, rec: dict, want: dict, response, multiplexed: bool) -> None:
    if not (want["logs"] or want["stream"]):
        return
    # Not running, or its shim cannot be reached: what it writes goes to its log, and the
    # log is followed while it runs.
    stream = await clients.stream("container.logs", {
        "id": rec["Id"], "stdout": want["stdout"], "stderr": want["stderr"], "follow": want["stream"],
        "since": 0.0, "until": 0.0, "tail": -1 if want["logs"] else 0, "timestamps": False})
    try:
        async for meta, data in stream:
            await response.write(_frame(meta["fd"], data, multiplexed))
    finally:
        await stream.aclose()
