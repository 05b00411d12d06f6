"""Container endpoints: list, prune, create, inspect, changes, export, start, stop, restart, kill,
wait, remove, and POST /commit (a container's stdio streams are services.api.attach's)."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from services.common import errors, wire

from . import filters, keys, params, resources, shapes, streams
from .shapes import disk_usage as df_shapes
from .system import json_response


def _clients(request: web.Request) -> wire.Clients:
    return request.app[keys.CLIENTS]


def _id(request: web.Request) -> str:
    return request.match_info["id"]


def _no_content(request: web.Request, legacy_status: int = 204) -> web.Response:
    return web.Response(status=legacy_status if request[keys.API].legacy else 204)


async def list_containers(request: web.Request) -> web.Response:
    asked = {
        "all": params.flag(request, "all"),
        "limit": params.integer(request, "limit", -1),
        "since": params.text(request, "since") or None,
        "before": params.text(request, "before") or None,
        "filters": filters.from_request(request, filters.CONTAINER_LIST),
    }
    api = request[keys.API]
    sized = not api.legacy and params.flag(request, "size")   # (v1.0 has no sizes)
    if not api.legacy and not sized:
        return json_response(await request.app[keys.CONTAINER_LISTS].body(asked))
    records = (await _clients(request).call("container.list", asked))["containers"]
    rows = shapes.for_request(request).container_list(records, api)
    if records and sized:
        sizes, images = await asyncio.gather(
            _clients(request).call("container.sizes", {"ids": [rec["Id"] for rec in records]}),
            _clients(request).call("image.list", {"all": True}))
        df_shapes.with_sizes(rows, records, sizes["sizes"], df_shapes.image_sizes(images["images"]))
    return json_response(rows)


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
    resources.adapt(host, request[keys.API])
    config = {k: v for k, v in body.items() if k not in ("HostConfig", "NetworkingConfig")}
    if isinstance(config.get("Healthcheck"), dict) and not request[keys.API].at_least("1.44"):
        # StartInterval came with API 1.44: as dockerd, an older client's is not applied.
        config["Healthcheck"] = {k: v for k, v in config["Healthcheck"].items() if k != "StartInterval"}
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


def _stop_signal(request: web.Request) -> str | None:
    """A stop's or restart's ?signal=, which API 1.42 brought (earlier ones ignore it)."""
    return (params.text(request, "signal") or None) if request[keys.API].at_least("1.42") else None


async def stop(request: web.Request) -> web.Response:
    await _clients(request).call("container.stop", {"id": _id(request), "timeout": params.integer(request, "t"),
                                                    "signal": _stop_signal(request)})
    return _no_content(request)


async def restart(request: web.Request) -> web.Response:
    await _clients(request).call("container.restart", {"id": _id(request), "timeout": params.integer(request, "t"),
                                                       "signal": _stop_signal(request)})
    return _no_content(request)


async def kill(request: web.Request) -> web.Response:
    await _clients(request).call("container.kill", {"id": _id(request),
                                                    "signal": params.text(request, "signal") or None})
    return _no_content(request)


async def wait(request: web.Request) -> web.StreamResponse:
    clients = _clients(request)
    # Before API 1.30 there were no conditions, and the head came with the body.
    at_once = request[keys.API].at_least("1.30")
    condition = (params.text(request, "condition") or None) if at_once else None
    if condition not in (None, "not-running", "next-exit", "removed"):
        raise errors.BadParameter(f"invalid condition: {json.dumps(condition)}")
    rec = await clients.call("container.inspect", {"id": _id(request)})
    # As dockerd does, the head goes out at once (the docker CLI starts the container only
    # once its wait is acknowledged); the body when the container stops. A next exit is the
    # one after those counted now, however soon after the head the container starts.
    exits = rec["Dockyard"].get("exits", 0) if condition == "next-exit" else None
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    if at_once:
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
    if not at_once:
        await response.prepare(request)
    await response.write(json.dumps(body, separators=(",", ":")).encode() + b"\n")
    await response.write_eof()
    return response


async def remove(request: web.Request) -> web.Response:
    if params.flag(request, "link"):   # a legacy link's name (parent/alias): the link goes, not a container
        await _clients(request).call("container.unlink", {"name": _id(request)})
        return web.Response(status=204)
    await _clients(request).call("container.remove", {
        "id": _id(request), "force": params.flag(request, "force"), "volumes": params.flag(request, "v")})
    return web.Response(status=204)


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
        "author": params.text(request, "author") or None, "config": body,
        "changes": request.query.getall("changes", [])})
    return json_response(shapes.for_request(request).committed(result["id"]), status=201)
