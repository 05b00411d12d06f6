"""Volume endpoints: list, create, inspect, remove, prune (Docker's api/server/router/volume).
The supervisor owns volumes; here requests are read and checked as dockerd reads them, and
the replies shaped (shapes/volumes.py).
"""

from __future__ import annotations

from aiohttp import web

from services.common import errors, wire

from . import filters, keys, params
from .shapes import volumes as shapes
from .system import json_response

# moby volume/service: what the list and the prune accept.
LIST_FILTERS = frozenset(("dangling", "driver", "label", "name"))
PRUNE_FILTERS = frozenset(("all", "label", "label!"))
# API 1.42 made a prune take only anonymous volumes unless asked for all (moby's router).
PRUNE_ANONYMOUS_SINCE = "1.42"

_GO_TRUE = frozenset(("1", "t", "T", "TRUE", "true", "True"))
_GO_FALSE = frozenset(("0", "f", "F", "FALSE", "false", "False"))
# POST /volumes/create's fields (moby's volume.CreateRequest) and what each must be.
_STRINGS = ("Name", "Driver")
_STRING_MAPS = ("DriverOpts", "Labels")
NO_SWARM = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this '
            "node to swarm and try again.")


def _clients(request: web.Request) -> wire.Clients:
    return request.app[keys.CLIENTS]


def _name(request: web.Request) -> str:
    return request.match_info["name"]


def _wire_filters(wanted: dict[str, list[str]]) -> dict[str, list[str]]:
    """Filters as the wire names them: Docker's `label!` is `label_not`."""
    return {("label_not" if key == "label!" else key): values for key, values in wanted.items()}


def prune_filters(raw: str | None, anonymous_only: bool) -> dict[str, list[str]]:
    """POST /volumes/prune's filters, checked as dockerd checks them (withPrune); `all` as
    one "true" or "false". Before API 1.42 a prune takes every unused volume, as if
    `all=true` were given (`anonymous_only` False)."""
    wanted = filters.parse(raw, PRUNE_FILTERS)
    if not anonymous_only:
        wanted["all"] = list(dict.fromkeys([*wanted.get("all", []), "true"]))
    values = wanted.get("all")
    if values is not None:
        if len(values) > 1:
            raise errors.BadParameter(f"invalid filter 'all=[{' '.join(values)}]': only one value is expected")
        if len(values) == 1:
            if values[0] not in _GO_TRUE | _GO_FALSE:
                raise errors.BadParameter(f"invalid filter 'all': strconv.ParseBool: parsing \"{values[0]}\": "
                                          "invalid syntax")
            wanted["all"] = ["true" if values[0] in _GO_TRUE else "false"]
    return _wire_filters(wanted)


def create_config(body) -> dict:
    """POST /volumes/create's body as the wire's `config`: Docker's fields of their JSON
    types, nulls and unknown keys left out (Go ignores both)."""
    if body is None:
        return {}   # dockerd reads an empty body as an empty request: an anonymous volume
    if not isinstance(body, dict):
        raise errors.BadParameter("the volume config must be a JSON object")
    if body.get("ClusterVolumeSpec") is not None:
        raise errors.Unavailable(NO_SWARM)
    config = {}
    for key in _STRINGS:
        if body.get(key) is not None:
            if not isinstance(body[key], str):
                raise errors.BadParameter(f"{key} must be a string")
            config[key] = body[key]
    for key in _STRING_MAPS:
        if body.get(key) is not None:
            if not isinstance(body[key], dict) or not all(isinstance(v, str) for v in body[key].values()):
                raise errors.BadParameter(f"{key} must be an object of strings")
            config[key] = body[key]
    return config


# ------------------------------------------------------------------ handlers

async def list_volumes(request: web.Request) -> web.Response:
    wanted = _wire_filters(filters.parse(params.text(request, "filters"), LIST_FILTERS))
    result = await _clients(request).call("volume.list", {"filters": wanted})
    return json_response(shapes.volume_list(result["volumes"], result["warnings"]))


async def create(request: web.Request) -> web.Response:
    config = create_config(await params.json_body(request))
    vol = await _clients(request).call("volume.create", {"config": config})
    return json_response(shapes.volume(vol), status=201)


async def inspect(request: web.Request) -> web.Response:
    vol = await _clients(request).call("volume.inspect", {"name": _name(request)})
    return json_response(shapes.volume(vol))


async def remove(request: web.Request) -> web.Response:
    await _clients(request).call("volume.remove", {"name": _name(request), "force": params.flag(request, "force")})
    return web.Response(status=204)


async def prune(request: web.Request) -> web.Response:
    """POST /volumes/prune: the unused local volumes (since API 1.42 the anonymous ones only,
    unless filter `all`)."""
    api = request[keys.API]
    anonymous_only = api.legacy or api.at_least(PRUNE_ANONYMOUS_SINCE)   # unprefixed: the newest
    wanted = prune_filters(params.text(request, "filters"), anonymous_only)
    result = await _clients(request).call("volume.prune", {"filters": wanted})
    return json_response(shapes.volumes_pruned(result["deleted"], result["space_reclaimed"]))
