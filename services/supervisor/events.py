"""The event journal's owner: what records an event (`emit`, `container_event`, and
`event.record`: the registry's image events, the api's container events such as attach)
and what streams them (`event.stream`, for GET /events).

Every event is appended to the journal (services/common/events.py) first and then wakes
the streams, which read the journal after the last id each sent: so a stream sends each
event once and in order, a slow reader holds nothing in memory, and a client that comes
back with `since` gets what happened meanwhile. A failed append is logged, never the
failure of what it reports.
"""

from __future__ import annotations

import asyncio
import logging
import time

from services.common import db, events, wire

from .event_filters import matches

log = logging.getLogger("services.supervisor.events")


class Events:
    def __init__(self, data_root: str):
        self.journal = events.Journal(db.connect(data_root))
        self._wakes: set[asyncio.Event] = set()
        # The container records (set by the composition): a container's event recorded with
        # event.record gets its labels, name and image from there, as every other.
        self.containers = None

    def handlers(self) -> dict:
        return {"event.record": self.record, "event.stream": self.stream}

    def emit(self, type_: str, action: str, actor: str, attributes: dict | None = None) -> None:
        try:
            self.journal.append(events.message(type_, action, actor, attributes))
        except Exception:
            log.exception("could not record the %s event %s of %s", type_, action, actor)
            return
        for wake in self._wakes:
            wake.set()

    async def record(self, call: wire.Call) -> dict:
        p = call.params
        if p["type"] == "container" and self.containers is not None:
            container_event(self.containers.find(p["actor"]), p["action"], **p["attributes"])
        else:
            self.emit(p["type"], p["action"], p["actor"], p["attributes"])
        return {}

    async def stream(self, call: wire.Call):
        p = call.params
        since_ns, until_ns, filters = p.get("since_ns"), p.get("until_ns"), p.get("filters") or {}
        wake = asyncio.Event()
        self._wakes.add(wake)   # before the past is read: nothing recorded meanwhile is missed
        try:
            past = since_ns is not None or until_ns is not None
            last = 0 if past else self.journal.last_id()
            since_ns, until_ns = since_ns or 0, until_ns or 0
            while True:
                wake.clear()
                batch = self.journal.after(last, since_ns, until_ns)
                for event_id, event in batch:
                    last = event_id
                    if matches(filters, event):
                        yield event
                if batch:
                    continue   # more may wait beyond this batch
                left = until_ns / 1e9 - time.time() if until_ns else None
                if left is not None and left < 0:
                    return
                try:
                    await asyncio.wait_for(wake.wait(), left)
                except asyncio.TimeoutError:
                    pass   # `until` came: what was recorded up to it is read once more, then the end
        finally:
            self._wakes.discard(wake)


# The supervisor's one journal, set by its composition (__main__); none in unit tests.
_current: Events | None = None


def install(journal: Events) -> None:
    global _current
    _current = journal


def emit(type_: str, action: str, actor: str, attributes: dict | None = None) -> None:
    """Record one event (nothing without a journal installed)."""
    if _current is not None:
        _current.emit(type_, action, actor, attributes)


def container_event(rec: dict, action: str, **extra) -> None:
    """A container's event, its attributes as Docker's: its labels, `name`, `image`, and `extra`."""
    config = rec.get("Config") or {}
    attributes = {**(config.get("Labels") or {}), "name": rec.get("Name", "").lstrip("/"),
                  "image": config.get("Image", ""), **extra}
    emit("container", action, rec["Id"], attributes)


def network_event(net: dict, action: str, **extra) -> None:
    """A network's event: its `name` and `type` (driver), and `extra` (`container`)."""
    emit("network", action, net["Id"], {"name": net["Name"], "type": net.get("Driver", ""), **extra})
