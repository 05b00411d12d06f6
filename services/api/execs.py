"""`docker exec`: create an exec session, start it (hijacked, as attach, or detached),
resize its tty, inspect it.

The supervisor keeps the sessions' records (exec.create, exec.start, exec.inspect); the
container's shim runs them: a start streams shim.exec there (stdin up, output down).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.common import errors, locator, wire

from . import container_events, detach, hijack, keys, params
from .attach import MULTIPLEXED, RAW, _frame
from .system import json_response

_BOOLS = ("AttachStdin", "AttachStdout", "AttachStderr", "Tty", "Privileged")
_STRINGS = ("DetachKeys", "User", "WorkingDir")


def _clients(request: web.Request) -> wire.Clients:
    return request.app[keys.CLIENTS]


def _bool(body: dict, name: str) -> bool:
    value = body.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise errors.BadParameter(f"invalid value for {name}: expected a boolean, got {value!r}")
    return value


def _strings(body: dict, name: str) -> list[str]:
    value = body.get(name)
    if value is None:
        return []
    if isinstance(value, str) and name == "Cmd":   # Docker's strslice takes one string too
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise errors.BadParameter(f"invalid value for {name}: expected a list of strings")
    return value


def _console_size(body: dict) -> list[int] | None:
    value = body.get("ConsoleSize")
    if value is None:
        return None
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)):
        raise errors.BadParameter("invalid value for ConsoleSize: expected [height, width], two unsigned integers")
    return value


def _go_names(body: dict, names) -> dict:
    """The body with its keys named as Docker's fields, matched as Go's JSON decoding
    matches them: exactly, else regardless of case (docker-py sends `detachKeys`)."""
    folded = {name.lower(): name for name in names}
    out = {}
    for key, value in body.items():   # a later key for the same field wins, as in Go
        name = folded.get(key.lower()) if isinstance(key, str) else None
        if name is not None:
            out[name] = value
    return out


def exec_config(body: Any) -> dict:
    """POST /containers/{id}/exec's body as the wire's EXEC_CONFIG, its types checked and
    its defaults filled in. Fields Docker does not know are ignored, as it does."""
    if not isinstance(body, dict):
        raise errors.BadParameter("the exec config must be a JSON object")
    body = _go_names(body, (*_BOOLS, *_STRINGS, "Env", "Cmd", "ConsoleSize"))
    config: dict = {name: _bool(body, name) for name in _BOOLS}
    for name in _STRINGS:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise errors.BadParameter(f"invalid value for {name}: expected a string, got {value!r}")
        config[name] = value or ""
    config["Env"] = _strings(body, "Env")
    config["Cmd"] = _strings(body, "Cmd")
    config["ConsoleSize"] = _console_size(body)
    if not config["Cmd"]:
        raise errors.BadParameter("No exec command specified")
    detach.check_exec_keys(config["DetachKeys"])
    return config


def start_options(body: Any) -> dict:
    """POST /exec/{id}/start's body: {Detach, Tty, ConsoleSize}; Tty None when not given."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise errors.BadParameter("the exec start config must be a JSON object")
    body = _go_names(body, ("Detach", "Tty", "ConsoleSize"))
    return {"Detach": _bool(body, "Detach"), "Tty": _bool(body, "Tty") if "Tty" in body else None,
            "ConsoleSize": _console_size(body)}


async def create(request: web.Request) -> web.Response:
    config = exec_config(await params.json_body(request, required=True))
    result = await _clients(request).call("exec.create", {"container": request.match_info["id"],
                                                          "config": config})
    return json_response({"Id": result["id"]}, status=201)


async def inspect(request: web.Request) -> web.Response:
    return json_response(await _clients(request).call("exec.inspect", {"id": request.match_info["id"]}))


async def resize(request: web.Request) -> web.Response:
    size = {}
    for name, key in (("h", "height"), ("w", "width")):
        if not params.text(request, name):
            raise errors.BadParameter(f"invalid value for {name}: an integer is required")
        size[key] = params.integer(request, name, minimum=0)
    clients = _clients(request)
    info = await clients.call("exec.inspect", {"id": request.match_info["id"]})
    rec = await clients.call("container.inspect", {"id": info["ContainerID"]})
    if not rec["State"]["Running"]:
        raise errors.Conflict(f"Container {rec['Id']} is not running")
    await locator.call(clients, rec["Id"], rec["State"]["Pid"], "shim.exec_resize",
                       {"exec_id": info["ID"], **size})
    return web.Response(status=200)


async def start(request: web.Request) -> web.StreamResponse:
    options = start_options(await params.json_body(request))
    clients = _clients(request)
    exec_id = request.match_info["id"]
    started = await clients.call("exec.start", {"id": exec_id})
    cid, pid, config = started["container"], started["pid"], dict(started["config"])
    # As dockerd: the exec's own Tty (its create's) decides whether it gets a terminal; the
    # start's Tty whether its output is framed (docker-py's exec_start sends false by
    # default, and reads frames, for an exec created with a tty).
    if options["ConsoleSize"] is not None:
        config["ConsoleSize"] = options["ConsoleSize"]
    run = {"exec_id": exec_id, "config": config, "detach": options["Detach"]}
    if options["Detach"]:
        chunks = locator.stream(clients, cid, pid, "shim.exec", run, upload=hijack.nothing())
        try:
            async for _ in chunks:   # its first chunk ({"pid"}): it runs
                break
        finally:
            await chunks.aclose()
        return web.Response(status=200)
    return await _attached(request, clients, cid, pid, config, run, framed=not options["Tty"])


def _wanted(fd: int, config: dict) -> bool:
    if fd == 0:   # a tty's one stream
        return config["AttachStdout"] or config["AttachStderr"]
    return config["AttachStderr"] if fd == 2 else config["AttachStdout"]


async def _attached(request: web.Request, clients: wire.Clients, cid: str, pid: int, config: dict,
                    run: dict, framed: bool) -> web.StreamResponse:
    """Hijack the connection as attach does: stdin up, the exec's output down. As dockerd:
    with a tty, the exec's detach keys (or the end of the client's stdin) end the session
    and leave the process running; without one, the end of stdin closes the process's."""
    legacy = request[keys.API].legacy
    multiplexed = not legacy and framed
    response, reader = await hijack.open_stream(request, MULTIPLEXED if multiplexed else RAW, legacy)
    tty = bool(config["Tty"])
    stdin = detach.ClientInput(reader, use_stdin=config["AttachStdin"],
                               keys=detach.of_exec(config["DetachKeys"]) if tty else None, eof_ends=tty)

    async def relay() -> None:
        try:
            async for chunk in locator.stream(clients, cid, pid, "shim.exec", run, upload=stdin):
                if not isinstance(chunk, tuple):
                    continue   # {"pid"} first, {"exit_code"} last: the supervisor's inspect tells them
                meta, data = chunk
                fd = meta.get("fd") or 0
                if data and _wanted(fd, config):
                    await response.write(_frame(fd or 1, data, multiplexed))
        except errors.DockyardError as exc:
            # Too late for a status: as Docker, the error goes to the client's stdout.
            await response.write(_frame(1, f"{exc.message}\r\n".encode(), multiplexed))
    try:
        await stdin.until_ended(relay())
    except ConnectionError:
        pass   # the client went away
    if stdin.detached:   # as dockerd, only its detach keys (not the client's going) say so
        await container_events.record(clients, cid, "exec_detach", execID=run["exec_id"])
    return response
