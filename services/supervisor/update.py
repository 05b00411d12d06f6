"""container.update: a container's resource limits and restart policy changed while it is.

The record takes the update (spec.updates.merge) and a container with processes (running
or paused) has its cgroup told at once, as the kernel's: the cgroup's path is the same for
the built-in runtime and runc, so one write serves both. One that does not run has its
record changed only: its next start's bundle carries the limits. The cgroup is written
before the record is saved: a limit the kernel refuses leaves the record as it was (and
the cgroup too, as far as it can be told the old values again).
"""

from __future__ import annotations

import asyncio
import logging

from services.common import errors, wire
from services.kernel.cgroups import Cgroup

from . import states
from .events import container_event
from .records import Records
from .spec import updates

log = logging.getLogger("supervisor")

WITH_PROCESSES = (states.RUNNING, states.PAUSED)


class Updates:
    def __init__(self, records: Records):
        self.records = records

    def handlers(self) -> dict:
        return {"container.update": self.update}

    async def update(self, call: wire.Call) -> dict:
        given, policy, warnings = updates.read(call.params["update"])
        cid = self.records.resolve(call.params["id"])
        async with self.records.lock(cid):
            rec = self.records.load(cid)
            if rec["State"]["Status"] in (states.REMOVING, states.DEAD):
                raise errors.Conflict(f'Cannot update container {cid}: container is marked for removal and '
                                      'cannot be "update"')
            old = rec["HostConfig"]
            new, changed = updates.merge(old, given, policy, cid)
            if changed and rec["State"]["Status"] in WITH_PROCESSES:
                await self._apply(rec, updates.changes(old, new, changed), updates.changes(new, old, changed))
            rec["HostConfig"] = new
            self.records.save(rec)
            container_event(rec, "update")
        return {"warnings": warnings}

    async def _apply(self, rec: dict, resources: dict, undo: dict) -> None:
        """Tell the container's cgroup; on a refusal, tell it the old values again and raise."""
        cgroup = Cgroup(rec["Dockyard"]["cgroup"])
        try:
            await asyncio.to_thread(cgroup.update, resources)
        except OSError as exc:
            try:
                await asyncio.to_thread(cgroup.update, undo)
            except OSError as again:
                log.warning("restoring the limits of %s: %s", rec["Id"][:12], again)
            why = exc.strerror or str(exc)
            raise errors.BadParameter(f"Cannot update container {rec['Id']}: {why}") from None
