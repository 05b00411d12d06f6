"""The volume methods (volume.*): create, list, inspect, remove and prune, with Docker's
checks, filters and errors (moby volume/service). Records and directories are the store's
(volume_store); what is mounted on a volume while containers use it, volume_mounts'."""

from __future__ import annotations

import asyncio
import logging
import shutil

from services.common import errors, wire
from services.common import filters as common

from .filters import tree_size
from .records import Records
from .volume_store import ANONYMOUS_LABEL, LOCAL, VolumeStore, references

log = logging.getLogger("supervisor")


def matches(vol: dict, filters: dict, refs: dict[str, list[str]]) -> bool:
    """Docker's volume list filters (moby volume/service filtersToBy): `name` a part or a
    regexp of the name, `driver`, `label` (and the prune's `label!`), `dangling`."""
    f = {k: v for k, v in (filters or {}).items() if v is not None}
    if f.get("driver") and vol["Driver"] not in f["driver"]:
        return False
    if "name" in f and not common.match(f["name"], vol["Name"]):
        return False
    if not common.match_labels(f.get("label"), f.get("label_not"), vol.get("Labels")):
        return False
    if "dangling" in f and common.get_bool(f, "dangling", False) == bool(refs.get(vol["Name"])):
        return False
    return True


def prunable(vol: dict, filters: dict, refs: dict[str, list[str]]) -> bool:
    """Whether a prune removes it: a local volume no container uses, with no options (what is
    mounted on one holds no space here), anonymous unless `all`, and its labels as asked."""
    f = dict(filters or {})
    everything = (f.pop("all", None) or ["false"]) == ["true"]
    if not everything:
        f["label"] = [*(f.get("label") or []), ANONYMOUS_LABEL]
    return (vol["Driver"] == LOCAL and not refs.get(vol["Name"]) and not vol["Options"]
            and common.match_labels(f.get("label"), f.get("label_not"), vol.get("Labels")))


class VolumesRoom:
    def __init__(self, records: Records, store: VolumeStore):
        self.records = records
        self.store = store
        self.pruning = False

    def handlers(self) -> dict:
        return {f"volume.{name}": getattr(self, name) for name in ("create", "list", "inspect", "remove", "prune")}

    async def create(self, call: wire.Call) -> dict:
        config = call.params["config"]
        vol, _ = self.store.ensure(config.get("Name"), config.get("Driver"), config.get("DriverOpts"),
                                   config.get("Labels"))
        return vol

    async def list(self, call: wire.Call) -> dict:
        filters = call.params.get("filters") or {}
        refs = {}
        if filters.get("dangling") is not None:
            common.get_bool(filters, "dangling", False)   # a bad value refused even with no volumes
            refs = references(self.records.all())
        return {"volumes": [v for v in self.store.all() if matches(v, filters, refs)], "warnings": []}

    async def inspect(self, call: wire.Call) -> dict:
        return self.store.find(call.params["name"])

    async def remove(self, call: wire.Call) -> dict:
        name = call.params["name"]
        if self.store.get(name) is None:
            if call.params["force"]:
                return {}
            raise errors.NotFound(f"get {name}: no such volume")
        users = references(self.records.all()).get(name)
        if users:
            raise errors.Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
        await self._erase(self.store.take_out(name))   # no wait since the check
        return {}

    @staticmethod
    async def _erase(doomed: str | None) -> int:
        """Delete a volume's files, taken out (store.take_out); the bytes they held."""
        if doomed is None:
            return 0
        size = await asyncio.to_thread(tree_size, doomed)
        await asyncio.to_thread(shutil.rmtree, doomed, True)
        return size

    async def prune(self, call: wire.Call) -> dict:
        if self.pruning:
            raise errors.Conflict("a prune operation is already running")
        self.pruning = True
        try:
            filters = call.params.get("filters") or {}
            refs = references(self.records.all())
            taken: list[tuple[str, str | None]] = []
            # Every one chosen and taken out with no wait between: no container takes one meanwhile.
            for vol in self.store.all():
                if prunable(vol, filters, refs):
                    try:
                        taken.append((vol["Name"], self.store.take_out(vol["Name"])))
                    except (errors.DockyardError, OSError) as exc:   # as Docker: said, and the rest go on
                        log.warning("pruning volume %s: %s", vol["Name"], exc)
            reclaimed = 0
            for _, doomed in taken:
                reclaimed += await self._erase(doomed)
            return {"deleted": [name for name, _ in taken], "space_reclaimed": reclaimed}
        finally:
            self.pruning = False
