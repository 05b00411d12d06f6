"""What containers there are: inspect, the filtered list, and prune of the stopped ones."""

from __future__ import annotations

import asyncio
import logging

from services.common import container_files, container_summary, errors, wire
from services.common.config import Settings
from services.common.store import Store

from . import filters
from .lifecycle import Lifecycle
from .records import Entry, Records

log = logging.getLogger("supervisor")


class Listing:
    def __init__(self, settings: Settings, records: Records, store: Store, lifecycle: Lifecycle):
        self.settings = settings
        self.records = records
        self.store = store
        self.lifecycle = lifecycle

    def handlers(self) -> dict:
        return {"container.inspect": self.inspect, "container.list": self.list,
                "container.summaries": self.summaries, "container.prune": self.prune}

    async def inspect(self, call: wire.Call) -> dict:
        return self.records.find(call.params["id"])

    def _chosen(self, p: dict) -> list[Entry]:
        """The entries the list's parameters choose, newest first."""
        wanted = {k: v for k, v in (p.get("filters") or {}).items() if v is not None}
        filters.check(wanted)
        entries = self.records.newest()
        show_all = p["all"] or bool(p.get("since") or p.get("before"))
        if not wanted and not p.get("since") and not p.get("before"):
            # The list as most clients ask for it: no filter to match.
            chosen = entries if show_all or p["limit"] > 0 else \
                [e for e in entries if e.record["State"]["Running"]]
            return chosen[:p["limit"]] if p["limit"] > 0 else chosen
        rows = [e.record for e in entries]
        # The since and before parameters of old clients: all containers, newer or older.
        if p.get("since"):
            pivot = self.records.entry(self.records.resolve(p["since"])).record
            rows = [r for r in rows if r["Created"] > pivot["Created"]]
        if p.get("before"):
            pivot = self.records.entry(self.records.resolve(p["before"])).record
            rows = [r for r in rows if r["Created"] < pivot["Created"]]
        pivots = {key: self.records.resolve(value) for key in ("before", "since") for value in wanted.get(key) or []}
        images = filters.image_family(self.store, wanted["ancestor"]) if "ancestor" in wanted else None
        rows = filters.select(rows, wanted, show_all, p["limit"], pivots.get("before"), pivots.get("since"), images)
        return [self.records.entry(r["Id"]) for r in rows]

    async def list(self, call: wire.Call) -> dict:
        return {"containers": [e.record for e in self._chosen(call.params)]}   # (only packed: shared is fine)

    async def summaries(self, call: wire.Call) -> dict:
        """The modern list's rows, each as the pieces its entry keeps ready: the api makes
        the Status words of the moment (container_summary.render)."""
        out = []
        for entry in self._chosen(call.params):
            row = entry.memo.get("summary")
            if row is None:
                before, after, since = container_summary.pieces(entry.record)
                row = entry.memo["summary"] = {"before": before, "after": after, "since": since}
            out.append(row)
        return {"rows": out}

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
