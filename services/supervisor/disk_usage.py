"""What GET /system/df (and `docker ps -s`) asks of the supervisor: the bytes of each
container's own layer (container.sizes) and of each local volume, with how many containers
use it (volume.usage).
The files are walked in a thread: the supervisor's loop goes on meanwhile."""

from __future__ import annotations

import asyncio

from services.common import container_files, wire
from services.common.config import Settings

from .filters import tree_size
from .records import Records
from .volume_store import LOCAL, VolumeStore, references

UNKNOWN = -1   # Docker's size of what could not be measured


def volume_usage(volumes: list[dict], refs: dict[str, list[str]], size_of) -> list[dict]:
    """moby's LocalVolumesSize: the local volumes without options, each with UsageData
    (Size the bytes under its data dir, RefCount the containers that name it)."""
    out = []
    for vol in volumes:
        if vol["Driver"] != LOCAL or vol["Options"]:
            continue
        usage = {"Size": size_of(vol["Mountpoint"]), "RefCount": len(refs.get(vol["Name"], []))}
        out.append({**vol, "UsageData": usage})
    return out


def _measured(path: str) -> int:
    try:
        return tree_size(path)
    except OSError:
        return UNKNOWN


class DiskUsage:
    def __init__(self, settings: Settings, records: Records, store: VolumeStore):
        self.settings = settings
        self.records = records
        self.store = store

    def handlers(self) -> dict:
        return {"container.sizes": self.container_sizes, "volume.usage": self.volume_usage}

    async def container_sizes(self, call: wire.Call) -> dict:
        ids = call.params.get("ids")
        wanted = None if ids is None else set(ids)
        uppers = {rec["Id"]: container_files.paths(self.settings.data_root, rec["Id"])["upper"]
                  for rec in self.records.all() if wanted is None or rec["Id"] in wanted}
        return {"sizes": await asyncio.to_thread(lambda: {cid: _measured(p) for cid, p in uppers.items()})}

    async def volume_usage(self, call: wire.Call) -> dict:
        volumes, refs = self.store.all(), references(self.records.all())   # one moment, no wait between
        return {"volumes": await asyncio.to_thread(volume_usage, volumes, refs, _measured)}
