"""Build endpoints: POST /build (a tar context streamed to the builder, its output relayed
as Docker's JSON messages) and POST /build/prune."""

from __future__ import annotations

import json

from aiohttp import web

from services.common import errors, wire

from . import filters as api_filters
from . import keys, params, shapes, streams
from .system import json_response


def _json_query(request: web.Request, name: str, kind: type, default):
    """A query parameter holding JSON of `kind` (cachefrom, buildargs, labels)."""
    raw = params.text(request, name)
    if raw is None or raw == "":
        return default
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise errors.BadParameter(f"invalid {name}: not valid JSON: {exc}") from None
    if value is None:
        return default
    if not isinstance(value, kind):
        raise errors.BadParameter(f"invalid {name}: it must be a JSON {'array' if kind is list else 'object'}")
    return value


def _strings(value, name: str, nullable: bool = False):
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        if not isinstance(item, str) and not (nullable and item is None):
            raise errors.BadParameter(f"invalid {name}: {key!r} must be a string")
    return value


def _registry_config(request: web.Request) -> dict:
    """X-Registry-Config: base64 JSON, registry -> its auth config."""
    out = {}
    for server, auth in (params.base64_json_object(request, "X-Registry-Config") or {}).items():
        if not isinstance(auth, dict):
            raise errors.BadParameter(f"X-Registry-Config: the entry of {server!r} must be a JSON object")
        creds = params.credentials(auth)
        if creds is not None:
            out[server] = creds
    return out


def _extra_hosts(request: web.Request) -> list[str]:
    return [host for value in request.query.getall("extrahosts", []) for host in value.split(",") if host]


def build_params(request: web.Request) -> dict:
    q = request.query
    limits = {"memory": params.integer(request, "memory", 0), "memswap": params.integer(request, "memswap", 0),
              "cpushares": params.integer(request, "cpushares", 0),
              "cpusetcpus": params.text(request, "cpusetcpus", "") or "",
              "cpuperiod": params.integer(request, "cpuperiod", 0),
              "cpuquota": params.integer(request, "cpuquota", 0),
              "shmsize": params.integer(request, "shmsize", 0, minimum=0),
              "networkmode": params.text(request, "networkmode", "") or "",
              "extrahosts": _extra_hosts(request)}
    if params.text(request, "version", "1") not in ("", "1"):
        raise errors.BadParameter("BuildKit (version=2) is not supported by this daemon: use the classic builder")
    return {
        "dockerfile": params.text(request, "dockerfile") or None,
        "tags": [t for t in q.getall("t", []) if t],
        "quiet": params.flag(request, "q"),
        "nocache": params.flag(request, "nocache"),
        "cachefrom": _strings(_json_query(request, "cachefrom", list, []), "cachefrom"),
        "pull": params.flag(request, "pull"),
        "rm": params.flag(request, "rm", True),
        "forcerm": params.flag(request, "forcerm"),
        "buildargs": _strings(_json_query(request, "buildargs", dict, {}), "buildargs", nullable=True),
        "labels": _strings(_json_query(request, "labels", dict, {}), "labels"),
        "target": params.text(request, "target") or None,
        "platform": params.text(request, "platform") or None,
        "limits": limits,
        "remote": params.text(request, "remote") or None,
        "auth": _registry_config(request),
    }


def build_message(show_id):
    """A build chunk as Docker's JSON message: a failed step's error has its code, and the
    image the build made is the `aux` record."""
    def message(chunk: dict) -> dict:
        if chunk.get("error") is not None:
            detail = {"message": chunk["error"]}
            if chunk.get("code") is not None:
                detail["code"] = chunk["code"]
            return {"errorDetail": detail, "error": chunk["error"]}
        if chunk.get("image"):
            return {"aux": {"ID": chunk["image"]}}
        return streams.json_message(chunk, show_id)
    return message


async def build(request: web.Request) -> web.StreamResponse:
    p = build_params(request)
    clients: wire.Clients = request.app[keys.CLIENTS]
    stream = await clients.stream("build.run", p, upload=streams.request_body(request))
    content_type = "application/vnd.docker.raw-stream" if request[keys.API].legacy else "application/json"
    show_id = shapes.for_request(request).image_id
    return await streams.relay_progress(request, stream, content_type, show_id, message=build_message(show_id))


# Dockerd takes label and label! here and applies neither (moby's builder-next Prune: "TODO
# handle label"); `docker system prune --filter label=...` sends them to every prune, this
# one included, and must not fail on it.
BUILD_PRUNE_FILTERS = frozenset({"until", "unused-for", "id", "parent", "type", "description", "inuse",
                                 "shared", "private", "label", "label!"})


async def prune(request: web.Request) -> web.Response:
    filters = api_filters.from_request(request, BUILD_PRUNE_FILTERS)
    given = filters.get("until", []) + filters.get("unused-for", [])
    until = api_filters.until({"until": given}) if given else None
    result = await request.app[keys.CLIENTS].call("build.prune", {
        "all": params.flag(request, "all"), "until": until,
        "keep_storage": params.integer(request, "keep-storage", 0, minimum=0)})
    return json_response({"CachesDeleted": result["deleted"], "SpaceReclaimed": result["space_reclaimed"]})
