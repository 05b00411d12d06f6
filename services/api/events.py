"""GET /events: Docker's event stream, relayed from the supervisor's journal.

`since` and `until` are unix seconds with an optional fraction (as the docker CLI and
docker-py send them) or RFC 3339 times; `filters` as dockerd reads them. The status goes
at once, then each event as one JSON object and a newline (as dockerd's encoder writes
them): first the past ones from `since`, then new ones, until `until` (if given) is
reached or the client goes.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from aiohttp import web

from services.common import errors, wire

from . import filters, keys, params
from .logs import unix_ns

ACCEPTED = frozenset(wire.EVENT_FILTERS)


def window(since: str | None, until: str | None) -> tuple[int | None, int | None]:
    """The stream's since and until in unix nanoseconds (None: not given)."""
    since_ns = unix_ns("since", since) if since else None
    until_ns = unix_ns("until", until) if until else None
    if since_ns is not None and until_ns is not None and since_ns > until_ns:
        raise errors.BadParameter(f"`since` time ({_shown(since_ns)}) cannot be after `until` time "
                                  f"({_shown(until_ns)})")
    return since_ns, until_ns


def _shown(ns: int) -> str:
    return datetime.fromtimestamp(ns // 1_000_000_000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


async def events(request: web.Request) -> web.StreamResponse:
    clients: wire.Clients = request.app[keys.CLIENTS]
    since_ns, until_ns = window(params.text(request, "since"), params.text(request, "until"))
    wanted = filters.from_request(request, ACCEPTED)
    stream = await clients.stream("event.stream", {"since_ns": since_ns, "until_ns": until_ns,
                                                   "filters": wanted})
    try:
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await response.prepare(request)
        try:
            async for event in stream:
                await response.write(json.dumps(event, separators=(",", ":")).encode() + b"\n")
        except errors.DockyardError:
            pass   # the supervisor went away: the client sees the stream end, and comes back with since
        return response
    finally:
        await stream.aclose()
