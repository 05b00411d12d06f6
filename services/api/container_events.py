"""The container events that happen in the api, as dockerd emits them: `attach` as an
attach's stream opens, `detach` when its detach keys end it, `exec_detach` (an exec's
detach keys), `resize` (`height`, `width`), `top`, `archive-path` (a copy out: GET
archive; HEAD, a stat, has none) and `extract-to-dir` (a copy in: PUT archive).

They go to the supervisor's journal (event.record), which gives them the container's
labels, name and image as it gives every container event. A failure to record one is
logged, never the failure of what it reports.
"""

from __future__ import annotations

import logging

from services.common import errors, wire

log = logging.getLogger("services.api.events")


async def record(clients: wire.Clients, container: str, action: str, **attributes) -> None:
    """Record the event `action` of `container` (its id or any name of it)."""
    try:
        await clients.call("event.record", {"type": "container", "action": action, "actor": container,
                                            "attributes": {k: str(v) for k, v in attributes.items()}})
    except errors.DockyardError as exc:
        log.warning("could not record the event %s of container %s: %s", action, container[:12], exc)

