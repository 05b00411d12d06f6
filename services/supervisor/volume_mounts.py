"""What is mounted on a volume's _data while it is used, as Docker's local driver does it: a
volume with a `type` or a `device` (tmpfs, a bind of a host path, any filesystem the kernel
mounts) gets it mounted, on the host, when a container using it starts or a copy into or
out of a stopped container that uses it begins (as dockerd mounts a stopped container's
volumes for `docker cp`), and unmounted when its last user is done.

Who uses a volume is read from the records (the containers that run or are paused) and
from what is under way here (starts, copies), never counted in the kernel: the mount is the
kernel's, so it outlives a restart of the supervisor, and the next release (or the
supervisor's start) finds what no longer has a user.

mount(2) and umount(2) run in a thread (a slow filesystem stalls no other request). Each
volume has a lock: looking at what is mounted, deciding, and the kernel's call happen under
it, so a start that looks while a release unmounts waits for the unmount and mounts again,
and two starts mount a volume once. A cancelled caller leaves the locked part to finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from typing import AsyncIterator, Callable

from services.common import errors
from services.kernel import mounting
from services.kernel.syscalls import SYS, Syscalls

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


def _mount_events(cid: str, rec: dict) -> None:
    for mp in volume_mounts(rec):   # as dockerd, each volume's mount, told
        emit("volume", "mount", mp["Name"], {
            "container": cid, "destination": mp["Destination"], "driver": mp.get("Driver") or "local",
            "propagation": mp.get("Propagation", ""), "read/write": mp.get("RW", True)})


def _unmount_events(cid: str, rec: dict) -> None:
    for mp in volume_mounts(rec):
        emit("volume", "unmount", mp["Name"], {"container": cid, "driver": mp.get("Driver") or "local"})


class VolumeMounts:
    def __init__(self, store: VolumeStore, records: Records, kernel: Syscalls = SYS,
                 mount_points: Callable[[], list[str]] = mounting.mount_points):
        self.store = store
        self.records = records
        self.kernel = kernel
        self.mount_points = mount_points
        self.starting: set[str] = set()      # containers whose start is under way
        self.copying: Counter[str] = Counter()   # volume -> copies of stopped containers using it
        self._locks: dict[str, asyncio.Lock] = {}
        self._sweeps: set[asyncio.Task] = set()

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    def _in_use(self) -> set[str]:
        """The volumes a running, paused or starting container, or a copy, uses."""
        out = {name for name, n in self.copying.items() if n > 0}
        for rec in self.records.all():
            if rec["State"]["Status"] in USING or rec["Id"] in self.starting:
                out.update(volume_names(rec))
        return out

    # ------------------------------------------------------------ mounting

    async def _mount(self, names: list[str]) -> None:
        """Mount what the volumes `names` need and is not mounted yet."""
        for name in dict.fromkeys(names):
            vol = self.store.get(name)
            if vol is not None and needs_mount(vol):
                # Shielded: a cancelled caller leaves the kernel's call (and the lock) to end.
                await asyncio.shield(asyncio.ensure_future(self._mount_locked(vol)))

    async def _mount_locked(self, vol: dict) -> None:
        async with self._lock(vol["Name"]):
            if vol["Mountpoint"] in await asyncio.to_thread(self.mount_points):
                return
            options = vol["Options"]
            try:
                await asyncio.to_thread(mounting.mount, options.get("device", ""), vol["Mountpoint"],
                                        options.get("type", ""), options.get("o", ""), self.kernel)
            except mounting.MountError as exc:
                raise errors.ServerError(f"error while mounting volume '{vol['Mountpoint']}': failed to "
                                         f"mount local volume: {exc}") from None

    async def sweep(self) -> None:
        """Unmount what no running container or copy uses any more."""
        for vol in self.store.mounted_kind():
            async with self._lock(vol["Name"]):
                if vol["Name"] in self._in_use():
                    continue
                if vol["Mountpoint"] not in await asyncio.to_thread(self.mount_points):
                    continue
                try:
                    await asyncio.to_thread(mounting.unmount, vol["Mountpoint"], self.kernel)
                except mounting.MountError as exc:
                    log.warning("volume %s: %s", vol["Name"], exc)

    def _sweep_soon(self) -> None:
        task = asyncio.ensure_future(self.sweep())
        self._sweeps.add(task)
        task.add_done_callback(self._swept)

    def _swept(self, task: asyncio.Task) -> None:
        self._sweeps.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("unmounting unused volumes", exc_info=task.exception())

    async def settled(self) -> None:
        """Until the releases asked for so far are done."""
        while self._sweeps:
            await asyncio.gather(*self._sweeps, return_exceptions=True)

    # ------------------------------------------------------------ the users

    async def at_start(self, cid: str) -> None:
        """Before a container starts (a starting hook): mount what its volumes need. If the
        start fails, the lifecycle's stopped hook (release) gives the volumes back."""
        self.starting.add(cid)
        rec = self.records.load(cid)
        _mount_events(cid, rec)
        await self._mount(volume_names(rec))

    def started(self, rec: dict) -> None:
        """A started hook: its start is over (its record says it runs)."""
        self.starting.discard(rec["Id"])

    def release(self, cid: str) -> None:
        """A stopped hook: the container stopped (or its start failed); what no one uses any
        more is unmounted (in a task: the hook is told, not awaited)."""
        self.starting.discard(cid)
        if self.records.exists(cid):
            _unmount_events(cid, self.records.load(cid))
        self._sweep_soon()

    @contextlib.asynccontextmanager
    async def copying_from(self, rec: dict) -> AsyncIterator[None]:
        """For a copy into or out of the stopped container of `rec`: its volumes mounted (as a
        start mounts them) until the copy ends, then given back."""
        names = volume_names(rec)
        self.copying.update(names)
        try:
            _mount_events(rec["Id"], rec)
            await self._mount(names)
            yield
        finally:
            self.copying.subtract(names)
            self.copying += Counter()   # drops the volumes no copy uses any more
            _unmount_events(rec["Id"], rec)
            self._sweep_soon()
