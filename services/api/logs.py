"""GET /containers/{id}/logs: a container's log as dockerd serves it.

`since`/`until` (unix seconds with up to nine fractional digits, as docker-py and the docker
CLI send them; RFC 3339 is taken too), `tail` (a number, or anything else for all, as
dockerd's Atoi), `timestamps`, `details` (each entry's attributes first), `follow`. One
frame an entry. A running container's followed log comes from its shim, which knows when
it grows; everything else is read from the files by the supervisor.
"""

from __future__ import annotations

import re
import struct

from aiohttp import web

from services.common import errors, jsonlog, locator, logdrivers, timefmt, wire

from . import keys, params

MULTIPLEXED = "application/vnd.docker.multiplexed-stream"
RAW = "application/vnd.docker.raw-stream"
NOT_READABLE = "configured logging driver does not support reading"
_UNIX = re.compile(r"([+-]?[0-9]+)(?:\.([0-9]*))?")


def unix_ns(name: str, raw: str | None) -> int:
    """A since/until value in unix nanoseconds (0: not given), read as dockerd's
    ParseUnixTimestamp reads it; an RFC 3339 time is taken too."""
    if not raw or (name == "until" and raw == "0"):
        return 0
    match = _UNIX.fullmatch(raw)
    if match:
        seconds, fraction = match.groups()
        if fraction is not None and len(fraction) > 20:
            raise errors.BadParameter(f'invalid value for "{name}": invalid timestamp "{raw}": invalid '
                                      f"nanoseconds: length {len(fraction)} exceeds maximum 20")
        return int(seconds) * 1_000_000_000 + int(((fraction or "") + "000000000")[:9])
    if "-" in raw:
        try:
            timefmt.parse(raw)
        except ValueError:
            pass
        else:
            return jsonlog.time_ns(raw)
    seconds, _, fraction = raw.partition(".")
    if re.fullmatch(r"[+-]?[0-9]+", seconds):
        at = next((i for i, c in enumerate(fraction) if not "0" <= c <= "9"), 0)
        why = f"invalid nanoseconds: invalid character '{fraction[at]}' at position {at}"
    else:
        why = f'invalid seconds "{seconds}": invalid syntax'
    raise errors.BadParameter(f'invalid value for "{name}": invalid timestamp "{raw}": {why}')


def tail(raw: str | None) -> int:
    """The last lines wanted: -1 for all (dockerd reads `tail` with Atoi: a word is all)."""
    try:
        lines = int(raw or "all")
    except ValueError:
        return -1
    return lines if lines >= 0 else -1


def frames(fd: int, data: bytes, sizes: list[int], multiplexed: bool) -> bytes:
    """An entry a frame (stream, 0, 0, 0, size), as dockerd writes a log; raw as it is."""
    if not multiplexed:
        return data
    out, at = [], 0
    for size in sizes:
        out.append(struct.pack(">BxxxI", fd, size))
        out.append(data[at:at + size])
        at += size
    return b"".join(out)


async def logs(request: web.Request) -> web.StreamResponse:
    clients: wire.Clients = request.app[keys.CLIENTS]
    stdout, stderr = params.flag(request, "stdout"), params.flag(request, "stderr")
    if not (stdout or stderr):
        raise errors.BadParameter("must specify at least one of 'stdout' or 'stderr'")
    query = {"stdout": stdout, "stderr": stderr,
             "since_ns": unix_ns("since", params.text(request, "since")),
             "until_ns": unix_ns("until", params.text(request, "until")),
             "tail": tail(params.text(request, "tail")), "timestamps": params.flag(request, "timestamps"),
             "details": params.flag(request, "details")}
    rec = await clients.call("container.inspect", {"id": request.match_info["id"]})
    if rec["State"]["Status"] in ("removing", "dead"):
        raise errors.Conflict("can not get logs from container which is dead or marked for removal")
    if logdrivers.of(rec)["Type"] == logdrivers.NONE:
        raise errors.NotImplementedYet(NOT_READABLE)
    api = request[keys.API]
    multiplexed = not api.legacy and not rec["Config"].get("Tty")
    response = web.StreamResponse(status=200, headers={
        "Content-Type": MULTIPLEXED if multiplexed and api.at_least("1.42") else RAW})

    async def send(meta: dict, data: bytes) -> None:
        # The status goes once the log answers: once a follow's start is fixed (its first,
        # empty, chunk), so a client that has it misses nothing written after.
        if not response.prepared:
            await response.prepare(request)
        if data:
            await response.write(frames(meta["fd"], data, meta["sizes"], multiplexed))
    try:
        if params.flag(request, "follow") and rec["State"]["Running"]:
            try:
                async for meta, data in locator.stream(clients, rec["Id"], rec["State"]["Pid"], "shim.logs", query):
                    await send(meta, data)
                return await _finish(request, response)
            except errors.Unavailable:
                if response.prepared:
                    return response  # the shim went away mid-stream: the client sees the end
        stream = await clients.stream("container.logs", {"id": rec["Id"], **query})
        try:
            async for meta, data in stream:
                await send(meta, data)
        finally:
            await stream.aclose()
    except errors.DockyardError:
        if not response.prepared:
            raise
        # the log ends here; the client sees the stream close
    return await _finish(request, response)


async def _finish(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    if not response.prepared:
        await response.prepare(request)
    return response
