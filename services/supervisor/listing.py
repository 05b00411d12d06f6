"""What containers there are: inspect, the filtered list, and prune of the stopped ones."""

from __future__ import annotations

import asyncio
import logging

from services.common import container_files, errors, wire
from services.common.config import Settings
from services.common.store import Store

from . import filters
from .lifecycle import Lifecycle
from .records import Records

log = logging.getLogger("supervisor")


class Listing:
    def __init__(self, settings: Settings, records: Records, store: Store, lifecycle: Lifecycle):
        self.settings = settings
        self.records = records
        self.store = store
        self.lifecycle = lifecycle

    def handlers(self) -> dict:
        return {"container.inspect": self.inspect, "container.list": self.list, "container.prune": self.prune}

    async def inspect(self, call: wire.Call) -> dict:
        return self.records.find(call.params["id"])

    async def list(self, call: wire.Call) -> dict:
        p = call.params
        wanted = {k: v for k, v in (p.get("filters") or {}).items() if v is not None}
        filters.check(wanted)
        rows = self.records.all()
        # The since and before parameters of old clients: all containers, newer or older.
        if p.get("since"):
            pivot = self.records.find(p["since"])
            rows = [r for r in rows if r["Created"] > pivot["Created"]]
        if p.get("before"):
            pivot = self.records.find(p["before"])
            rows = [r for r in rows if r["Created"] < pivot["Created"]]
        pivots = {key: self.records.resolve(value) for key in ("before", "since") for value in wanted.get(key) or []}
        images = filters.image_family(self.store, wanted["ancestor"]) if "ancestor" in wanted else None
        rows = filters.select(rows, wanted, p["all"] or bool(p.get("since") or p.get("before")), p["limit"],
                              pivots.get("before"), pivots.get("since"), images)
        return {"containers": rows}

    async def prune(self, call: wire.Call) -> dict:
        """Docker's container prune: remove the stopped containers the filters choose."""
        p = call.params
        deleted, space = [], 0
        for cid in self.records.ids():
            async with self.records.lock(cid):
                if not self.records.exists(cid):
                    continue
                rec = self.records.load(cid)
                if not filters.prunable(rec, p.get("until"), p["label"], p["label_not"]):
                    continue
                size = await asyncio.to_thread(filters.tree_size, container_files.paths(self.settings.data_root, cid)["upper"])
                try:
                    await self.lifecycle.remove_locked(rec, volumes=False)
                except (errors.DockyardError, OSError) as exc:
                    log.warning("prune: removing %s failed: %s", cid[:12], exc)
                    continue
            deleted.append(cid)
            space += size
        return {"deleted": deleted, "space_reclaimed": space}
