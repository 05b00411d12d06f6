"""Pause, unpause and rename: changes of a running (or any) container that neither start
nor stop it.

Pause freezes the container's cgroup (the freezer serves runc's containers too: their
cgroupsPath is the same) and unpause thaws it; rename changes its Name and the
containers table's name together (Records.rename) and tells its peers' DNS.
"""

from __future__ import annotations

import asyncio

from services.common import errors, wire
from services.kernel.cgroups import Cgroup

from . import names, states
from .networks.bridge import Bridges
from .records import Records


class Control:
    def __init__(self, records: Records, bridges: Bridges):
        self.records = records
        self.bridges = bridges

    def handlers(self) -> dict:
        return {"container.pause": self.pause, "container.unpause": self.unpause,
                "container.rename": self.rename}

    async def pause(self, call: wire.Call) -> dict:
        cid = self.records.resolve(call.params["id"])
        async with self.records.lock(cid):
            rec = self.records.load(cid)
            states.check("paused", rec["State"]["Status"], cid)
            try:
                await asyncio.to_thread(Cgroup(rec["Dockyard"]["cgroup"]).freeze)
            except (OSError, TimeoutError) as exc:
                raise errors.ServerError(f"Cannot pause container {cid}: {exc}") from exc
            # Loaded again: its exit may have been recorded while it froze.
            rec = self.records.load(cid)
            if rec["State"]["Status"] != states.RUNNING:
                await asyncio.to_thread(Cgroup(rec["Dockyard"]["cgroup"]).thaw)
                states.check("paused", rec["State"]["Status"], cid)
            self.records.save(states.apply(rec, "paused"))
        return {}

    async def unpause(self, call: wire.Call) -> dict:
        cid = self.records.resolve(call.params["id"])
        async with self.records.lock(cid):
            rec = self.records.load(cid)
            states.check("unpaused", rec["State"]["Status"], cid)
            try:
                await asyncio.to_thread(Cgroup(rec["Dockyard"]["cgroup"]).thaw)
            except OSError as exc:
                raise errors.ServerError(f"Cannot unpause container {cid}: {exc}") from exc
            rec = self.records.load(cid)
            states.check("unpaused", rec["State"]["Status"], cid)
            self.records.save(states.apply(rec, "unpaused"))
        return {}

    async def rename(self, call: wire.Call) -> dict:
        new = call.params["name"]
        if not call.params["id"] or not new:
            raise errors.BadParameter("Neither old nor new names may be empty")
        new = new if new.startswith("/") else "/" + new
        cid = self.records.resolve(call.params["id"])
        async with self.records.lock(cid):
            rec = self.records.load(cid)
            if rec["Name"] == new:
                raise errors.BadParameter("Renaming a container with the same name as its current name")
            try:
                names.check(new)
            except errors.BadParameter as exc:
                raise errors.BadParameter(f"Error when allocating new name: {exc.message}") from exc
            other = self.records.name_owner(new)
            if other:
                raise errors.Conflict(f"Error when allocating new name: {names.in_use(new, other).message}")
            rec["Name"] = new
            self.records.rename(rec)
            self.bridges.published(rec)
        return {}
