"""System endpoints: /_ping, /version, /info."""

from __future__ import annotations

import asyncio
import json
import platform

from aiohttp import web

from services.common import errors, release, service, sockets, wire

from . import keys, params, shapes, versions
from .shapes import disk_usage as df_shapes

STAT_SERVICES = sockets.WIRE_SERVICES  # asked for their numbers; the api counts its own


def json_body(data: object) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode() + b"\n"


def json_response(data: object, status: int = 200) -> web.Response:
    """`data` as JSON; bytes are JSON already (json_body's, or rows a service keeps ready)."""
    # "application/json" exactly, as dockerd sends it: the docker CLI reads an error's
    # message only under that type (with "; charset=utf-8" it prints the raw JSON).
    return web.Response(status=status, body=json_body(data) if not isinstance(data, bytes) else data,
                        content_type="application/json")


SERVER_HEADER = f"Dockyard/{release.VERSION} (linux)"   # every response's Server (app.py)
# What /_ping answers with, besides every response's API-Version and Server (app.py). A
# keep-alive client's plain pings are answered from these without aiohttp (fastping.py).
PING_BODY = b"OK"
PING_CONTENT_TYPE = "text/plain; charset=utf-8"
PING_HEADERS = {
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Pragma": "no-cache",
    "Docker-Experimental": "false",
    "Ostype": "linux",
    # Only the classic builder is offered: the CLI must not try BuildKit's session API.
    "Builder-Version": "1",
    "Swarm": "inactive",
}


async def ping(request: web.Request) -> web.Response:
    return web.Response(body=PING_BODY, headers={**PING_HEADERS, "Content-Type": PING_CONTENT_TYPE})


def _version_record() -> dict:
    return {
        "version": release.VERSION,
        "api_version": versions.API_VERSION,
        "min_api_version": versions.MIN_API_VERSION,
        "git_commit": release.git_commit(),
        "go_version": release.python_version(),
        "os": "linux",
        "arch": release.go_arch(),
        "kernel_version": platform.release(),
        "build_time": release.build_time(),
    }


async def version(request: web.Request) -> web.Response:
    return json_response(shapes.for_request(request).version(_version_record()))


async def info(request: web.Request) -> web.Response:
    clients: wire.Clients = request.app[keys.CLIENTS]
    # NFd and NGoroutines count the whole daemon, so every service must answer.
    host, *stats = await asyncio.gather(
        clients.call("system.info"),
        *(clients[name].call("system.stats") for name in STAT_SERVICES))
    stats.append(service.process_stats("api", len(asyncio.all_tasks())))
    settings = request.app[keys.SETTINGS]
    warnings = []
    if not host["swap_limit"]:
        warnings.append("WARNING: No swap limit support")
    rec = {
        **host,
        "version": release.VERSION,
        "debug": settings.log_level == "debug",
        "default_runtime": settings.runtime,
        "log_driver": settings.log_driver,
        "nfd": sum(s["fds"] for s in stats),
        "ngoroutines": sum(s["threads"] + s["tasks"] for s in stats),
        "warnings": warnings,
    }
    return json_response(shapes.for_request(request).info(rec))


async def auth_get(request: web.Request) -> web.Response:
    return json_response(await request.app[keys.CLIENTS].call("auth.get"))


async def auth_login(request: web.Request) -> web.Response:
    body = await params.json_body(request, required=True)
    if not isinstance(body, dict) or not isinstance(body.get("username"), str) or not body["username"]:
        raise errors.BadParameter("username is required")
    if not isinstance(body.get("password", ""), str):
        raise errors.BadParameter("password must be a string")
    result = await request.app[keys.CLIENTS].call("auth.login", {
        "username": body["username"], "password": body.get("password") or "",
        "email": str(body.get("email") or ""), "serveraddress": str(body.get("serveraddress") or "")})
    if request[keys.API].legacy:
        return web.Response(status=200, text="", content_type="text/plain")
    return json_response({"Status": result["status"], "IdentityToken": ""})


async def disk_usage(request: web.Request) -> web.Response:
    """GET /system/df: the store's layers and images, the containers with their sizes, the
    local volumes with theirs and the build cache; API 1.42's `type` limits what is computed."""
    clients: wire.Clients = request.app[keys.CLIENTS]
    api = request[keys.API]
    wanted = df_shapes.parts(request.query.getall("type", []), api)
    need_containers = bool(wanted & {"Images", "Containers"})   # images count their containers
    asked = {
        "images": clients.call("image.list", {"all": False}) if "Images" in wanted else None,
        "all_images": clients.call("image.list", {"all": True}) if "Containers" in wanted else None,
        "layers": clients.call("image.usage") if "Images" in wanted else None,
        "containers": clients.call("container.list", {"all": True, "limit": -1}) if need_containers else None,
        "sizes": clients.call("container.sizes") if "Containers" in wanted else None,
        "volumes": clients.call("volume.usage") if "Volumes" in wanted else None,
        "cache": clients.call("build.usage") if "BuildCache" in wanted else None,
    }
    names = [k for k, v in asked.items() if v is not None]
    r = dict(zip(names, await asyncio.gather(*(asked[k] for k in names))))
    got: dict = {}
    if "Images" in wanted:
        got["Images"] = {"rows": r["images"]["images"], "layers_size": r["layers"]["layers_size"],
                         "shared": r["layers"]["shared"], "containers": r["containers"]["containers"]}
    if "Containers" in wanted:
        got["Containers"] = {"records": r["containers"]["containers"], "sizes": r["sizes"]["sizes"],
                             "image_sizes": df_shapes.image_sizes(r["all_images"]["images"])}
    if "Volumes" in wanted:
        got["Volumes"] = r["volumes"]["volumes"]
    if "BuildCache" in wanted:
        got["BuildCache"] = r["cache"]["records"]
    return json_response(df_shapes.disk_usage(got, api))   # a modern endpoint, unprefixed too


# Dockyard is never part of a swarm: the swarm endpoints answer as a dockerd outside one
# does (clients such as docker-py's leave_swarm(force=True) read the 503 as "nothing to leave").
NOT_A_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to '
                 "connect this node to swarm and try again.")


async def swarm_inspect(request: web.Request) -> web.Response:
    raise errors.Unavailable(NOT_A_MANAGER)


async def swarm_leave(request: web.Request) -> web.Response:
    raise errors.Unavailable("This node is not part of a swarm")
