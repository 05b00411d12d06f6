"""What is mounted on a volume's _data while containers use it, as Docker's local driver
does it: a volume with a `type` or a `device` (tmpfs, a bind of a host path, any filesystem
the kernel mounts) gets it mounted, on the host, when a container using it starts, and
unmounted when the last container using it stops.

Who uses a volume is read from the records (the containers that run or are paused) and
from the starts under way, never counted in memory: the mount itself is the kernel's, so
it outlives a restart of the supervisor, and the next exit (or the supervisor's start)
finds what no longer has a user. A start and a release run on the event loop without a
wait between looking and mounting, so one never undoes the other.
"""

from __future__ import annotations

import logging

from services.common import errors
from services.kernel import mounting

from . import states
from .events import emit
from .records import Records
from .volume_store import VolumeStore, needs_mount

log = logging.getLogger("supervisor")

USING = (states.RUNNING, states.PAUSED)


def volume_mounts(rec: dict) -> list[dict]:
    return [mp for mp in rec.get("Mounts") or [] if mp.get("Type") == "volume" and mp.get("Name")]


def volume_names(rec: dict) -> list[str]:
    return [mp["Name"] for mp in volume_mounts(rec)]


class VolumeMounts:
    def __init__(self, store: VolumeStore, records: Records):
        self.store = store
        self.records = records
        self.starting: set[str] = set()   # containers whose start is under way

    def _in_use(self) -> set[str]:
        """The volumes a running, paused or starting container uses."""
        out: set[str] = set()
        for rec in self.records.all():
            if rec["State"]["Status"] in USING or rec["Id"] in self.starting:
                out.update(volume_names(rec))
        return out

    async def at_start(self, cid: str) -> None:
        """Before a container starts (a starting hook): mount what its volumes need."""
        self.starting.add(cid)
        for mp in volume_mounts(self.records.load(cid)):   # as dockerd, each volume's mount, told
            emit("volume", "mount", mp["Name"], {
                "container": cid, "destination": mp["Destination"], "driver": mp.get("Driver") or "local",
                "propagation": mp.get("Propagation", ""), "read/write": mp.get("RW", True)})
        try:
            points = set(mounting.mount_points())
            for name in volume_names(self.records.load(cid)):
                vol = self.store.get(name)
                if vol is None or not needs_mount(vol) or vol["Mountpoint"] in points:
                    continue
                options = vol["Options"]
                try:
                    mounting.mount(options.get("device", ""), vol["Mountpoint"], options.get("type", ""),
                                   options.get("o", ""))
                except mounting.MountError as exc:
                    raise errors.ServerError(f"error while mounting volume '{vol['Mountpoint']}': failed to "
                                             f"mount local volume: {exc}") from None
                points.add(vol["Mountpoint"])
        except BaseException:
            self.release(cid)
            raise

    def started(self, rec: dict) -> None:
        """A started hook: its start is over (its record says it runs)."""
        self.starting.discard(rec["Id"])

    def release(self, cid: str | None = None) -> None:
        """After a container stopped (or its start failed): unmount what no running container
        uses any more. With no id, a sweep (at the supervisor's start)."""
        if cid is not None:
            self.starting.discard(cid)
            if self.records.exists(cid):
                for mp in volume_mounts(self.records.load(cid)):
                    emit("volume", "unmount", mp["Name"], {"container": cid, "driver": mp.get("Driver") or "local"})
        candidates = self.store.mounted_kind()
        if not candidates:
            return
        points = set(mounting.mount_points())
        mounted = [v for v in candidates if v["Mountpoint"] in points]
        if not mounted:
            return
        used = self._in_use()
        for vol in mounted:
            if vol["Name"] not in used:
                try:
                    mounting.unmount(vol["Mountpoint"])
                except mounting.MountError as exc:
                    log.warning("volume %s: %s", vol["Name"], exc)
