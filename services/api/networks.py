"""Network endpoints: list, inspect, create, connect, disconnect, remove, prune (Docker's
api/server/router/network). The supervisor owns networks; here requests are read and
checked as dockerd reads them, and the replies shaped (shapes/networks.py).
"""

from __future__ import annotations

from aiohttp import web

from services.common import errors, wire

from . import filters, keys, params
from .shapes import networks as shapes
from .system import json_response

# moby's daemon/network/filter.go: what the list and the prune accept.
LIST_FILTERS = frozenset(("dangling", "driver", "id", "label", "name", "scope", "type"))
PRUNE_FILTERS = frozenset(("label", "label!", "until"))

# Go's strconv.ParseBool, which dockerd reads `verbose` with.
_GO_TRUE = frozenset(("1", "t", "T", "TRUE", "true", "True"))
_GO_FALSE = frozenset(("0", "f", "F", "FALSE", "false", "False"))

# The JSON types of POST /networks/create's body (moby's NetworkCreateRequest, with its
# IPAM and ConfigReference), for the messages of a 400; nested tables are objects.
STR, BOOL, STR_MAP = "a string", "true or false", "an object of strings"
_IPAM_CONFIG = {"Subnet": STR, "IPRange": STR, "Gateway": STR, "AuxiliaryAddresses": STR_MAP}
_IPAM = {"Driver": STR, "Options": STR_MAP, "Config": [_IPAM_CONFIG]}
CREATE_TYPES = {
    "Name": STR, "CheckDuplicate": BOOL, "Driver": STR, "Scope": STR, "Internal": BOOL, "Attachable": BOOL,
    "Ingress": BOOL, "EnableIPv6": BOOL, "ConfigOnly": BOOL, "ConfigFrom": {"Network": STR},
    "IPAM": _IPAM, "Options": STR_MAP, "Labels": STR_MAP,
}


def _clients(request: web.Request) -> wire.Clients:
    return request.app[keys.CLIENTS]


def _id(request: web.Request) -> str:
    return request.match_info["id"]


# ------------------------------------------------------------------- reading

def list_filters(raw: str | None) -> tuple[dict[str, list[str]], list[str] | None]:
    """GET /networks' filters, checked as dockerd checks them: the wire's filters, and the
    scopes a network must have (None or none listed: any). The scope is matched here, on
    the reply: the wire does not carry it, and every network has the one scope, "local"."""
    wanted = filters.parse(raw, LIST_FILTERS)
    dangling = wanted.get("dangling")
    if dangling:
        if len(dangling) > 1:
            raise errors.BadParameter('got more than one value for filter key "dangling"')
        if dangling[0] not in ("0", "1", "false", "true"):
            raise errors.BadParameter(
                """invalid value for filter 'dangling', must be "true" (or "1"), or "false" (or "0")""")
        wanted["dangling"] = ["true" if dangling[0] in ("1", "true") else "false"]
    for kind in wanted.get("type", []):
        if kind not in ("builtin", "custom"):
            raise errors.BadParameter(f"invalid filter: 'type'='{kind}'")
    scopes = wanted.pop("scope", None)
    return wanted, scopes


def prune_filters(raw: str | None) -> dict[str, list[str]]:
    """POST /networks/prune's filters as the wire's: `label!` is `label_not`, and `until`
    is resolved now to unix seconds (a form Docker's timestamps read the same), so a
    relative one (`10m`) means ten minutes before this request."""
    wanted = filters.parse(raw, PRUNE_FILTERS)
    out: dict[str, list[str]] = {}
    if "label" in wanted:
        out["label"] = wanted["label"]
    if "label!" in wanted:
        out["label_not"] = wanted["label!"]
    until = filters.until(wanted)
    if until is not None:
        out["until"] = [f"{until:.9f}"]
    return out


def _describe(kind) -> str:
    return kind if isinstance(kind, str) else "a list of objects" if isinstance(kind, list) else "an object"


def _check(value, kind, name: str) -> None:
    """`value` (not null) as the JSON type `kind`: a BadParameter naming the setting, as the
    container create's checks word it. Null is taken for any field, as Go takes it (the zero
    value); keys nobody knows are let be."""
    if isinstance(kind, dict):
        ok = isinstance(value, dict)
    elif isinstance(kind, list):
        ok = isinstance(value, list) and all(item is not None for item in value)
    elif kind == STR:
        ok = isinstance(value, str)
    elif kind == BOOL:
        ok = isinstance(value, bool)
    else:
        ok = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    if not ok:
        raise errors.BadParameter(f"{name} must be {_describe(kind)}")
    if isinstance(kind, dict):
        for key, sub in kind.items():
            if value.get(key) is not None:
                _check(value[key], sub, f"{name}.{key}")
    elif isinstance(kind, list):
        for number, item in enumerate(value):
            _check(item, kind[0], f"{name}[{number}]")


def create_config(body) -> dict:
    """POST /networks/create's body as the wire's `config`: Docker's fields of their JSON
    types, nulls and unknown keys left out (Go ignores both)."""
    if body is None:
        body = {}   # dockerd reads an empty body as an empty request (and so a missing name)
    if not isinstance(body, dict):
        raise errors.BadParameter("the network config must be a JSON object")
    config = {}
    for key, kind in CREATE_TYPES.items():
        if body.get(key) is not None:
            _check(body[key], kind, key)
            config[key] = body[key]
    if not config.get("Name"):
        raise errors.BadParameter("invalid name: ")   # libnetwork's ErrInvalidName, word for word
    return config


def _body_object(body, what: str) -> dict:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise errors.BadParameter(f"the {what} request must be a JSON object")
    return body


def _container(body: dict) -> str:
    container = body.get("Container")
    if container is not None and not isinstance(container, str):
        raise errors.BadParameter("Container must be a string")
    if not container:
        raise errors.BadParameter('invalid name or ID supplied: ""')   # dockerd's GetContainer("")
    return container


def connect_params(network: str, body) -> dict:
    """POST /networks/{id}/connect's body ({Container, EndpointConfig}) as the wire's
    params; the endpoint's fields are the supervisor's to check, as for a create's."""
    body = _body_object(body, "connect")
    endpoint = body.get("EndpointConfig")
    if endpoint is not None and not isinstance(endpoint, dict):
        raise errors.BadParameter("EndpointConfig must be an object")
    return {"id": network, "container": _container(body), "endpoint_config": endpoint}


def disconnect_params(network: str, body) -> dict:
    """POST /networks/{id}/disconnect's body ({Container, Force}) as the wire's params."""
    body = _body_object(body, "disconnect")
    force = body.get("Force")
    if force is not None and not isinstance(force, bool):
        raise errors.BadParameter("Force must be true or false")
    return {"id": network, "container": _container(body), "force": bool(force)}


def _verbose(request: web.Request) -> bool:
    value = params.text(request, "verbose") or ""
    if value and value not in _GO_TRUE | _GO_FALSE:
        raise errors.BadParameter(
            f'invalid value for verbose: {value}: strconv.ParseBool: parsing "{value}": invalid syntax')
    return value in _GO_TRUE


# ------------------------------------------------------------------ handlers

async def list_networks(request: web.Request) -> web.Response:
    wanted, scopes = list_filters(params.text(request, "filters"))
    result = await _clients(request).call("network.list", {"filters": wanted})
    nets = [n for n in result["networks"] if not scopes or n.get("Scope") in scopes]
    return json_response(shapes.network_list(nets, request[keys.API]))


async def inspect(request: web.Request) -> web.Response:
    """GET /networks/{id}: `verbose` adds swarm's services, which there are none of here;
    `scope` names the scope the network must have, as dockerd's filter does."""
    _verbose(request)
    net = await _clients(request).call("network.inspect", {"id": _id(request)})
    scope = params.text(request, "scope") or ""
    if scope and net.get("Scope") != scope:
        raise errors.NotFound(f"network {_id(request)} not found")
    return json_response(shapes.network(net, request[keys.API]))


async def create(request: web.Request) -> web.Response:
    config = create_config(await params.json_body(request))
    result = await _clients(request).call("network.create", {"config": config})
    return json_response(shapes.network_created(result), status=201)


async def connect(request: web.Request) -> web.Response:
    await _clients(request).call("network.connect", connect_params(_id(request), await params.json_body(request)))
    return web.Response(status=200)


async def disconnect(request: web.Request) -> web.Response:
    await _clients(request).call("network.disconnect",
                                 disconnect_params(_id(request), await params.json_body(request)))
    return web.Response(status=200)


async def remove(request: web.Request) -> web.Response:
    await _clients(request).call("network.remove", {"id": _id(request)})
    return web.Response(status=204)


async def prune(request: web.Request) -> web.Response:
    """POST /networks/prune: remove the networks no container uses (never the predefined)."""
    result = await _clients(request).call("network.prune", {"filters": prune_filters(params.text(request, "filters"))})
    return json_response(shapes.networks_pruned(result["deleted"]))
