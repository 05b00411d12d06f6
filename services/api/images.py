"""Image endpoints: list, viz, inspect, history, tag, remove, create (import), insert, get, load."""

from __future__ import annotations

import fnmatch
import json

from aiohttp import web

from services.common import errors, timefmt, wire

from . import keys, params, shapes, streams
from .system import json_response


def _clients(request: web.Request) -> wire.Clients:
    return request.app[keys.CLIENTS]


def _stream_type(request: web.Request) -> str:
    return "application/vnd.docker.raw-stream" if request[keys.API].legacy else "application/json"


def _show_id(request: web.Request):
    return shapes.for_request(request).image_id


def _filters(request: web.Request) -> dict[str, list[str]]:
    raw = params.text(request, "filters")
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise errors.BadParameter(f"invalid filters: {raw!r} is not JSON") from None
    if not isinstance(data, dict):
        raise errors.BadParameter("invalid filters: expected a JSON object")
    out = {}
    for key, value in data.items():
        # Docker sends {"key": {"value": true}} and older clients {"key": ["value"]}.
        values = list(value) if isinstance(value, (dict, list)) else [value]
        if key not in ("dangling", "label", "reference", "before", "since"):
            raise errors.BadParameter(f"invalid filter {key!r}")
        out[key] = [str(v) for v in values]
    return out


async def _matches(request: web.Request, images: list[dict], filters: dict) -> list[dict]:
    if "dangling" in filters:
        want = filters["dangling"][0].lower() in ("1", "true")
        images = [i for i in images if (not i["refs"]) == want]
    for label in filters.get("label", []):
        key, _, value = label.partition("=")
        images = [i for i in images if key in i["labels"] and (not value or i["labels"][key] == value)]
    if "reference" in filters:
        patterns = filters["reference"]

        def ref_match(ref: str) -> bool:
            repo = ref.rpartition(":")[0] if ":" in ref.rpartition("/")[2] else ref
            return any(fnmatch.fnmatchcase(ref, p) or fnmatch.fnmatchcase(repo, p) for p in patterns)
        images = [i for i in images if any(ref_match(r) for r in i["refs"])]
    for key, keep in (("before", lambda c, t: c < t), ("since", lambda c, t: c > t)):
        for name in filters.get(key, []):
            pivot = await _clients(request).call("image.inspect", {"name": name})
            images = [i for i in images if keep(timefmt.unix(i["created"]), timefmt.unix(pivot["created"]))]
    return images


async def list_images(request: web.Request) -> web.Response:
    all_images = params.flag(request, "all")
    images = (await _clients(request).call("image.list", {"all": all_images}))["images"]
    legacy_filter = params.text(request, "filter")  # pre-1.25 clients: a reference pattern
    filters = _filters(request)
    if legacy_filter:
        filters.setdefault("reference", []).append(legacy_filter)
    images = await _matches(request, images, filters)
    return json_response(shapes.for_request(request).image_list(images, all_images, request[keys.API]))


async def viz(request: web.Request) -> web.Response:
    images = (await _clients(request).call("image.list", {"all": True}))["images"]
    return web.Response(text=shapes.legacy.image_viz(images), content_type="text/plain")


async def inspect(request: web.Request) -> web.Response:
    record = await _clients(request).call("image.inspect", {"name": request.match_info["name"]})
    return json_response(shapes.for_request(request).image_inspect(record, request[keys.API]))


async def history(request: web.Request) -> web.Response:
    entries = (await _clients(request).call("image.history", {"name": request.match_info["name"]}))["entries"]
    return json_response(shapes.for_request(request).image_history(entries))


async def tag(request: web.Request) -> web.Response:
    repo = params.text(request, "repo")
    if not repo:
        raise errors.BadParameter("repo is required")
    # The force flag of v1.0; since API 1.25 a tag always moves, as in Docker.
    force = params.flag(request, "force") or not request[keys.API].legacy
    await _clients(request).call("image.tag", {
        "name": request.match_info["name"], "repo": repo, "tag": params.text(request, "tag") or None,
        "force": force})
    return web.Response(status=201)


async def remove(request: web.Request) -> web.Response:
    result = await _clients(request).call("image.remove", {
        "name": request.match_info["name"], "force": params.flag(request, "force"),
        "prune": not params.flag(request, "noprune")})
    if request[keys.API].legacy:
        return web.Response(status=204)
    return json_response(shapes.modern.image_removed(result))


async def create(request: web.Request) -> web.StreamResponse:
    src = params.text(request, "fromSrc")
    if params.text(request, "fromImage"):
        return await _pull(request)
    if not src:
        raise errors.BadParameter("give fromSrc (- for the request body, or a URL) or fromImage")
    changes = request.query.getall("changes", [])
    common = {
        "repo": params.text(request, "repo") or None,
        "tag": params.text(request, "tag") or None,
        "message": params.text(request, "message") or None,
        "changes": changes,
        "force_tag": True,
        "source": src,
    }
    clients = _clients(request)
    if src == "-":
        stream = await clients.stream("image.import", common, upload=streams.request_body(request))
    else:
        stream = await clients.stream("image.import_url", {**common, "url": src})
    return await streams.relay_progress(request, stream, _stream_type(request), _show_id(request))


async def _pull(request: web.Request) -> web.StreamResponse:
    image = params.text(request, "fromImage")
    tag = params.text(request, "tag") or None
    registry = params.text(request, "registry") or None
    if registry and not image.startswith(registry.rstrip("/") + "/"):
        image = f"{registry.rstrip('/')}/{image}"   # v1.0: the registry to pull from
    if tag:
        image += ("@" if tag.startswith("sha256:") else ":") + tag
    stream = await _clients(request).stream("image.pull", {"image": image, "auth": params.registry_auth(request)})
    return await streams.relay_progress(request, stream, _stream_type(request), _show_id(request))


async def push(request: web.Request) -> web.StreamResponse:
    stream = await _clients(request).stream("image.push", {
        "name": request.match_info["name"], "tag": params.text(request, "tag") or None,
        "auth": params.registry_auth(request)})
    return await streams.relay_progress(request, stream, _stream_type(request), _show_id(request))


async def insert(request: web.Request) -> web.StreamResponse:
    url, path = params.text(request, "url"), params.text(request, "path")
    if not url or not path:
        raise errors.BadParameter("insert needs url and path")
    stream = await _clients(request).stream("image.insert", {
        "name": request.match_info["name"], "url": url, "path": path})
    return await streams.relay_progress(request, stream, _stream_type(request), _show_id(request))


async def get_one(request: web.Request) -> web.StreamResponse:
    return await _save(request, [request.match_info["name"]])


async def get_many(request: web.Request) -> web.StreamResponse:
    return await _save(request, request.query.getall("names", []))


async def _save(request: web.Request, names: list[str]) -> web.StreamResponse:
    if not names:
        raise errors.BadParameter("name at least one image (names=...)")
    stream = await _clients(request).stream("image.save", {"names": names})
    return await streams.relay_bytes(request, stream, "application/x-tar")


async def load(request: web.Request) -> web.StreamResponse:
    stream = await _clients(request).stream(
        "image.load", {"quiet": params.flag(request, "quiet")}, upload=streams.request_body(request))
    return await streams.relay_progress(request, stream, "application/json", _show_id(request))


async def search(request: web.Request) -> web.Response:
    term = params.text(request, "term")
    if not term:
        raise errors.BadParameter("term is required")
    result = await _clients(request).call("image.search", {
        "term": term, "limit": params.integer(request, "limit", 25, minimum=1) or 25,
        "auth": params.registry_auth(request)})
    return json_response(shapes.for_request(request).search_results(result["results"]))
