"""A container's resource limits as a request's API version has them: POST
/containers/{id}/update, and what a create's HostConfig keeps of them (dockerd's router
drops what a version lacks or no longer has before its daemon reads a body).
"""

from __future__ import annotations

from aiohttp import web

from services.common import errors

from . import keys, params
from .system import json_response


def adapt(host, api, update: bool = False) -> None:
    """Drop from a create's HostConfig (or an update's body) in place what the request's API
    version does not take: KernelMemory since 1.42, KernelMemoryTCP before 1.40 (create),
    PidsLimit before 1.40 (update). PidsLimit 0 or below means none: null at create, 0 (no
    limit from now on) in an update."""
    if not isinstance(host, dict):
        return   # the supervisor refuses a HostConfig that is not an object, in its words
    # Only integers: a value of the wrong JSON type is refused (dockerd's JSON decoding comes first).
    dropped = [key for key, gone in (("KernelMemory", api.at_least("1.42")),
                                     ("PidsLimit" if update else "KernelMemoryTCP", not api.at_least("1.40")))
               if gone and _integer(host.get(key))]
    for key in dropped:
        del host[key]
    if _integer(host.get("PidsLimit")) and host["PidsLimit"] <= 0:
        host["PidsLimit"] = 0 if update else None


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


async def update(request: web.Request) -> web.Response:
    body = await params.json_body(request, required=True)
    if not isinstance(body, dict):
        raise errors.BadParameter("the update config must be a JSON object")
    adapt(body, request[keys.API], update=True)
    result = await request.app[keys.CLIENTS].call("container.update", {"id": request.match_info["id"],
                                                                       "update": body})
    # As dockerd: null when there is nothing to warn of.
    return json_response({"Warnings": result["warnings"] or None})
