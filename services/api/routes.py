"""The one route table: every route is served plain and under /v{version}."""

from __future__ import annotations

import re

from aiohttp import web

from services.common import errors

from . import attach, attach_ws, build, containers, execs, images, keys, logs, networks, system
from . import usage
from . import control
from . import archive
from . import resources
from . import volumes
from . import events

VERSION_PREFIX = r"/v{version:[0-9]+\.[0-9]+}"


def since_version(version: str, handler):
    """A route that API versions before `version` lack: a 400 under their prefix, as dockerd
    answers (router.WithMinimumAPIVersion). Unprefixed, dockerd serves its newest version,
    so such a route is served there."""
    async def versioned(request: web.Request) -> web.StreamResponse:
        if request.match_info.get("version") is not None and not request[keys.API].at_least(version):
            path = "/" + request.path.split("/", 2)[2]
            raise errors.BadParameter(f"{request.method} {path} requires minimum API version {version}")
        return await handler(request)
    return versioned


ROUTES = [
    ("GET", "/_ping", system.ping),
    ("HEAD", "/_ping", system.ping),
    ("GET", "/version", system.version),
    ("GET", "/events", events.events),
    ("GET", "/info", system.info),
    ("GET", "/system/df", since_version("1.25", system.disk_usage)),
    ("GET", "/swarm", since_version("1.24", system.swarm_inspect)),
    ("POST", "/swarm/leave", since_version("1.24", system.swarm_leave)),
    ("GET", "/auth", system.auth_get),
    ("POST", "/auth", system.auth_login),
    # Images. Fixed paths first: a name may hold slashes, so {name:.+} would swallow them.
    ("GET", "/images/json", images.list_images),
    ("GET", "/images/viz", images.viz),
    ("GET", "/images/get", images.get_many),
    ("GET", "/images/search", images.search),
    ("POST", "/images/create", images.create),
    ("POST", "/images/load", images.load),
    ("POST", "/images/prune", since_version("1.25", images.prune)),
    ("GET", "/images/{name:.+}/json", images.inspect),
    ("GET", "/images/{name:.+}/history", images.history),
    ("GET", "/images/{name:.+}/get", images.get_one),
    ("POST", "/images/{name:.+}/tag", images.tag),
    ("POST", "/images/{name:.+}/insert", images.insert),
    ("POST", "/images/{name:.+}/push", images.push),
    ("DELETE", "/images/{name:.+}", images.remove),
    # Containers.
    ("GET", "/containers/json", containers.list_containers),
    ("POST", "/containers/create", containers.create),
    ("POST", "/containers/prune", since_version("1.25", containers.prune)),
    ("GET", "/containers/{id}/json", containers.inspect),
    ("GET", "/containers/{id}/changes", containers.changes),
    ("GET", "/containers/{id}/export", containers.export),
    ("HEAD", "/containers/{id}/archive", archive.head),
    ("GET", "/containers/{id}/archive", archive.get),
    ("PUT", "/containers/{id}/archive", archive.put),
    ("GET", "/containers/{id}/top", usage.top),
    ("GET", "/containers/{id}/stats", usage.stats),
    ("GET", "/containers/{id}/logs", logs.logs),
    ("POST", "/containers/{id}/start", containers.start),
    ("POST", "/containers/{id}/stop", containers.stop),
    ("POST", "/containers/{id}/restart", containers.restart),
    ("POST", "/containers/{id}/kill", containers.kill),
    ("POST", "/containers/{id}/pause", control.pause),
    ("POST", "/containers/{id}/unpause", control.unpause),
    ("POST", "/containers/{id}/rename", control.rename),
    ("POST", "/containers/{id}/update", since_version("1.22", resources.update)),
    ("POST", "/containers/{id}/attach", attach.attach),
    ("GET", "/containers/{id}/attach/ws", attach_ws.websocket),
    ("POST", "/containers/{id}/wait", containers.wait),
    ("POST", "/containers/{id}/resize", attach.resize),
    ("DELETE", "/containers/{id:.+}", containers.remove),   # a legacy link's name has a slash
    ("POST", "/containers/{id}/exec", execs.create),
    # Exec sessions.
    ("POST", "/exec/{id}/start", execs.start),
    ("POST", "/exec/{id}/resize", execs.resize),
    ("GET", "/exec/{id}/json", execs.inspect),
    ("POST", "/commit", containers.commit),
    # Builds.
    ("POST", "/build", build.build),
    ("POST", "/build/prune", since_version("1.31", build.prune)),
    # Networks (API 1.21), with dockerd's paths: the list answers with a trailing slash too,
    # and an id is anything (a name is not checked for slashes). Fixed paths first.
    ("GET", "/networks", since_version("1.21", networks.list_networks)),
    ("GET", "/networks/", since_version("1.21", networks.list_networks)),
    ("POST", "/networks/create", since_version("1.21", networks.create)),
    ("POST", "/networks/prune", since_version("1.25", networks.prune)),
    ("GET", "/networks/{id:.+}", since_version("1.21", networks.inspect)),
    ("POST", "/networks/{id:.+}/connect", since_version("1.21", networks.connect)),
    ("POST", "/networks/{id:.+}/disconnect", since_version("1.21", networks.disconnect)),
    ("DELETE", "/networks/{id:.+}", since_version("1.21", networks.remove)),
    # Volumes (API 1.21). Fixed paths first: a name is anything in dockerd's route.
    ("GET", "/volumes", since_version("1.21", volumes.list_volumes)),
    ("POST", "/volumes/create", since_version("1.21", volumes.create)),
    ("POST", "/volumes/prune", since_version("1.25", volumes.prune)),
    ("GET", "/volumes/{name:.+}", since_version("1.21", volumes.inspect)),
    ("DELETE", "/volumes/{name:.+}", since_version("1.21", volumes.remove)),
]


def register(router: web.UrlDispatcher) -> None:
    for method, path, handler in ROUTES:
        router.add_route(method, path, handler)
    versioned = [router.add_route(method, VERSION_PREFIX + path, handler).resource
                 for method, path, handler in ROUTES]
    _index_versioned(router, versioned)


_VERSIONED_PATH = re.compile(r"/v[0-9]+\.[0-9]+(?=/)")


def _static_key(path: str) -> str:
    """A path's static part (before its first variable) up to its last slash, as aiohttp
    indexes its resources."""
    if "{" in path:
        path = path.partition("{")[0].rpartition("/")[0]
    return path.rstrip("/") or "/"


def _index_versioned(router: web.UrlDispatcher, resources) -> None:
    """Find a versioned request's route by the path after its version.

    aiohttp indexes a resource by the static part of its path, and /v{version}/... has
    none: every request under a version prefix was matched against each versioned route in
    turn, a quarter of the time a listing took. Here a versioned path's candidates are
    those of its unversioned path, walked from the longest part as aiohttp walks; what they
    do not match (a 404, a 405) goes to aiohttp's own resolution, which answers it as
    before."""
    index: dict[str, list] = {}
    for resource in resources:
        if resource is not None:
            key = _static_key(resource.canonical[resource.canonical.index("}") + 1:])
            if resource not in index.get(key, ()):
                index.setdefault(key, []).append(resource)
    resolve_all = router.resolve

    async def resolve(request: web.Request):
        path = request.rel_url.path_safe
        prefix = _VERSIONED_PATH.match(path)
        if prefix is not None:
            part = path[prefix.end():]
            while part:
                for candidate in index.get(part, ()):
                    match, _ = await candidate.resolve(request)
                    if match is not None:
                        return match
                if part == "/":
                    break
                part = part.rpartition("/")[0] or "/"
        return await resolve_all(request)
    router.resolve = resolve
