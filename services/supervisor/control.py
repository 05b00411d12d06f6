"""Pause, unpause and rename: changes of a running (or any) container that neither start
nor stop it.

Pause freezes the container's cgroup (the freezer serves runc's containers too: their
cgroupsPath is the same) and unpause thaws it; rename changes its Name and the
containers table's name together (Records.rename), the legacy links to it and its own
links' names, and tells its peers' DNS. Unlink removes one legacy link (`docker rm
--link parent/alias`): both containers stay.
"""

from __future__ import annotations

import asyncio

from services.common import errors, wire
from services.kernel.cgroups import Cgroup

from . import names, states
from .events import container_event
from .networks import legacy_links
from .networks.bridge import Bridges
from .records import Records


class Control:
    def __init__(self, records: Records, bridges: Bridges):
        self.records = records
        self.bridges = bridges

    def handlers(self) -> dict:
        return {"container.pause": self.pause, "container.unpause": self.unpause,
                "container.rename": self.rename, "container.unlink": self.unlink}

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
            container_event(rec, "pause")
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
            container_event(rec, "unpause")
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
            old = rec["Name"]
            rec["Name"] = new
            rec["HostConfig"]["Links"] = legacy_links.renamed(rec["HostConfig"].get("Links"), old, new, own=True)
            self.records.rename(rec)
            container_event(rec, "rename", oldName=old)
            self.bridges.published(rec)
        await self._follow_rename(cid, old, new)
        return {}

    async def _follow_rename(self, cid: str, old: str, new: str) -> None:
        """The legacy links of other containers to the renamed one name it anew."""
        for rec in self.records.all():
            links = rec["HostConfig"].get("Links") or []
            if rec["Id"] == cid or not any(link.partition(":")[0] == old for link in links):
                continue
            async with self.records.lock(rec["Id"]):
                if not self.records.exists(rec["Id"]):
                    continue
                rec = self.records.load(rec["Id"])
                rec["HostConfig"]["Links"] = legacy_links.renamed(rec["HostConfig"].get("Links"), old, new, own=False)
                self.records.save(rec)

    async def unlink(self, call: wire.Call) -> dict:
        """Remove the legacy link `parent/alias` (Docker's rmLink): from the parent's links,
        and from its hosts file if it runs. A container's own name is a 409, as in Docker."""
        name = call.params["name"]
        parent, alias = legacy_links.split_name(name)
        if not parent:
            self.records.resolve(name)   # a 404 unless it names a container
            raise errors.Conflict("Conflict, cannot remove the default link name of the container")
        missing = errors.NotFound(f"No such container: {name}")
        owner = self.records.name_owner(parent)
        if owner is None:
            raise missing
        async with self.records.lock(owner):
            if not self.records.exists(owner):
                raise missing
            rec = self.records.load(owner)
            links = rec["HostConfig"].get("Links") or []
            kept = legacy_links.without(links, alias)
            if len(kept or []) == len(links):
                raise missing
            rec["HostConfig"]["Links"] = kept
            self.records.save(rec)
            if rec["State"]["Running"]:
                self.bridges.write_files(rec)
        return {}
