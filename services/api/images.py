"""Image endpoints: list, viz, inspect, history, tag, remove, prune, create (import), insert, get,
load."""

from __future__ import annotations

from aiohttp import web

from services.common import errors, timefmt, wire
from services.common import filters as common_filters

from . import filters as api_filters
from . import keys, params, shapes, streams
from .system import json_body, json_response


def _clients(request: web.Request) -> wire.Clients:
    return request.app[keys.CLIENTS]


def _stream_type(request: web.Request) -> str:
    return "application/vnd.docker.raw-stream" if request[keys.API].legacy else "application/json"


def _show_id(request: web.Request):
    return shapes.for_request(request).image_id


def _seconds(created: str) -> float:
    try:
        return timefmt.parse(created).timestamp()
    except (ValueError, OverflowError):
        return 0.0   # a record's bad time never fails a listing


async def _created_of(request: web.Request, name: str) -> float:
    return _seconds((await _clients(request).call("image.inspect", {"name": name}))["created"])


async def _matches(request: web.Request, images: list[dict], filters: dict, all_images: bool) -> list[dict]:
    """The images and refs the filters keep, as dockerd's image list does
    (daemon/images/image_list.go)."""
    dangling_only = common_filters.get_bool(filters, "dangling", False)
    before = since = None
    for name in filters.get("before", []):   # several: the oldest
        created = await _created_of(request, name)
        before = created if before is None else min(before, created)
    for value in filters.get("until", []):
        try:
            ts = api_filters.timestamp(value)
        except errors.BadParameter as exc:
            raise errors.BadParameter(f"invalid value for 'until' filter: {exc.message}") from None
        before = ts if before is None else min(before, ts)
    for name in filters.get("since", []):    # several: the newest
        created = await _created_of(request, name)
        since = created if since is None else max(since, created)
    patterns = filters.get("reference")
    for pattern in patterns or []:
        api_filters.path_match(pattern, "")  # a malformed one is refused, whatever the images
    parents = {i["parent"] for i in images if i["parent"]}
    out = []
    for image in images:
        if dangling_only and image["id"] in parents:
            continue
        created = _seconds(image["created"]) if before is not None or since is not None else 0.0
        if (before is not None and not created < before) or (since is not None and not created > since):
            continue
        if "label" in filters and not common_filters.match_kv_list(filters["label"], image["labels"]):
            continue
        if patterns is not None:
            image = {**image, "refs": [r for r in image["refs"] if api_filters.reference_matches(patterns, r)],
                     "digests": [r for r in image["digests"] if api_filters.reference_matches(patterns, r)]}
        if not image["refs"] and not image["digests"]:
            if not (all_images or image["id"] not in parents):
                continue
            if ("dangling" in filters and not dangling_only) or patterns is not None:
                continue
        elif dangling_only and image["refs"]:
            continue
        out.append(image)
    return out


# The lists answered without filters, by API version and `all`: the registry's stamp of
# the store's state each shows, and its JSON. Only a copy: the registry says whether it
# is still current (it sends no rows then), and the api may lose it at any moment.
_ANSWERED: dict[tuple[str, bool], tuple[str, bytes]] = {}


async def list_images(request: web.Request) -> web.Response:
    all_images = params.flag(request, "all")
    legacy_filter = params.text(request, "filter")  # pre-1.25 clients: a reference pattern
    filters = api_filters.from_request(request, api_filters.IMAGE_LIST)
    if legacy_filter:
        filters.setdefault("reference", []).append(legacy_filter)
    api = request[keys.API]
    key = (api.text, all_images)
    known = None if filters else _ANSWERED.get(key)
    result = await _clients(request).call("image.list", {"all": all_images, "unless": known and known[0]})
    if known and result["images"] is None:
        return json_response(known[1])
    images = await _matches(request, result["images"], filters, all_images)
    body = json_body(shapes.for_request(request).image_list(images, all_images, api))
    if not filters and result.get("stamp"):
        _ANSWERED[key] = (result["stamp"], body)
    return json_response(body)


async def prune(request: web.Request) -> web.Response:
    """POST /images/prune: dangling images, or with dangling=false all unused ones."""
    filters = api_filters.from_request(request, api_filters.IMAGE_PRUNE)
    result = await _clients(request).call("image.prune", {
        "dangling": common_filters.get_bool(filters, "dangling", True),
        "until": api_filters.until(filters, "invalid value for 'until' filter: "),
        "label": filters.get("label", []), "label_not": filters.get("label!", [])})
    removed = [{"Untagged": item["untagged"]} if item.get("untagged") else {"Deleted": item["deleted"]}
               for item in result["removed"]]
    return json_response({"ImagesDeleted": removed or None, "SpaceReclaimed": result["space_reclaimed"]})


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
    """POST /images/load. As dockerd's, a load that fails answers 200 with the error in its
    message stream (docker-py raises ImageLoadError on it); the v1.0 paths keep an error status."""
    stream = await _clients(request).stream(
        "image.load", {"quiet": params.flag(request, "quiet")}, upload=streams.request_body(request))
    return await streams.relay_progress(request, stream, "application/json", _show_id(request),
                                        always_ok=not request[keys.API].legacy)


async def search(request: web.Request) -> web.Response:
    term = params.text(request, "term")
    if not term:
        raise errors.BadParameter("term is required")
    result = await _clients(request).call("image.search", {
        "term": term, "limit": params.integer(request, "limit", 25, minimum=1) or 25,
        "auth": params.registry_auth(request)})
    return json_response(shapes.for_request(request).search_results(result["results"]))
