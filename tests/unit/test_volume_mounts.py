"""What is mounted on a volume while it is used (supervisor.volume_mounts), against a pretend
kernel: mount(2) and umount(2) run off the event loop (the loop answers while one blocks),
two starts mount a volume once and the last user to stop unmounts it, a start that comes
while a release unmounts mounts it again, a copy of a stopped container holds its volumes
while it runs, and a start cancelled during its mount leaves nothing mounted."""

from __future__ import annotations

import asyncio
import threading

from services.supervisor import states
from services.supervisor.volume_mounts import VolumeMounts

from ..polling import eventually

BLOCKED = 10.0   # how long a blocked call waits to be let go before it gives up (a failure)
BIND = {"type": "none", "o": "bind", "device": "/srv/host"}


class Kernel:
    """mount(2) and umount2(2) that keep a set of mount points; either can be made to block
    until the test lets it go, noting which thread it ran on."""

    def __init__(self):
        self.mounted: set[str] = set()
        self.calls: list[tuple[str, str]] = []
        self.threads: list[int] = []
        self.gates: dict[str, threading.Event] = {}
        self.entered: dict[str, threading.Event] = {"mount": threading.Event(), "umount2": threading.Event()}
        self.let_go: dict[str, bool] = {}

    def block(self, name: str) -> threading.Event:
        self.gates[name] = threading.Event()
        return self.gates[name]

    def _enter(self, name: str) -> None:
        self.threads.append(threading.get_ident())
        self.entered[name].set()
        gate = self.gates.pop(name, None)
        if gate is not None:
            self.let_go[name] = gate.wait(BLOCKED)

    def mount(self, source, target, fstype, flags=0, data=None):
        self._enter("mount")
        if source is not None:   # (not a propagation change or a remount)
            self.calls.append(("mount", target))
            self.mounted.add(target)

    def umount2(self, target, flags=0):
        self._enter("umount2")
        self.calls.append(("umount", target))
        self.mounted.discard(target)

    def points(self) -> list[str]:
        return sorted(self.mounted)


class Records:
    def __init__(self, *recs: dict):
        self.recs = {rec["Id"]: rec for rec in recs}

    def all(self):
        return list(self.recs.values())

    def load(self, cid):
        return self.recs[cid]

    def exists(self, cid):
        return cid in self.recs


class Store:
    def __init__(self, *vols: dict):
        self.vols = {v["Name"]: v for v in vols}

    def get(self, name):
        return self.vols.get(name)

    def mounted_kind(self):
        return [v for v in self.vols.values() if v["Options"]]


def a_volume(name: str, options: dict) -> dict:
    return {"Name": name, "Mountpoint": f"/data/volumes/{name}/_data", "Options": options}


def a_container(cid: str, *volumes: str, status: str = states.CREATED) -> dict:
    return {"Id": cid, "State": {"Status": status},
            "Mounts": [{"Type": "volume", "Name": v, "Destination": f"/{v}"} for v in volumes]}


def setup(*recs: dict):
    kernel = Kernel()
    store = Store(a_volume("shared", BIND), a_volume("plain", {}))
    records = Records(*recs)
    return kernel, records, VolumeMounts(store, records, kernel, kernel.points)


POINT = "/data/volumes/shared/_data"


def run(records: Records, cid: str, status: str) -> None:
    records.recs[cid]["State"]["Status"] = status


async def _until_set(event: threading.Event) -> None:
    """Until the kernel's thread set `event` (its call has begun), the loop free meanwhile."""
    await eventually(event.is_set, what="the kernel's call to begin")


async def _until_waiting(mounts: VolumeMounts, name: str) -> None:
    """Until something waits for the volume's lock (held by a mount or an unmount)."""
    await eventually(lambda: mounts._lock(name)._waiters, what=f"a wait for volume {name}'s lock")


def test_a_slow_mount_and_unmount_do_not_stall_the_loop():
    kernel, records, mounts = setup(a_container("a", "shared"))

    async def main():
        loop_thread = threading.get_ident()
        gate = kernel.block("mount")
        start = asyncio.ensure_future(mounts.at_start("a"))
        await _until_set(kernel.entered["mount"])
        gate.set()   # the loop runs while mount(2) blocks: it lets it go
        await start
        assert kernel.let_go == {"mount": True}
        assert POINT in kernel.mounted
        run(records, "a", states.EXITED)
        gate = kernel.block("umount2")
        mounts.release("a")
        await _until_set(kernel.entered["umount2"])
        gate.set()
        await mounts.settled()
        assert kernel.let_go == {"mount": True, "umount2": True}
        assert loop_thread not in kernel.threads

    asyncio.run(main())
    assert kernel.mounted == set()


def test_two_starts_mount_once_and_the_last_to_stop_unmounts():
    kernel, records, mounts = setup(a_container("a", "shared", "plain"), a_container("b", "shared"))

    async def main():
        gate = kernel.block("mount")
        first = asyncio.ensure_future(mounts.at_start("a"))
        await _until_set(kernel.entered["mount"])
        second = asyncio.ensure_future(mounts.at_start("b"))   # while the first one's mount(2) runs
        await _until_waiting(mounts, "shared")
        gate.set()
        await asyncio.gather(first, second)
        assert kernel.calls == [("mount", POINT)]
        for cid in ("a", "b"):
            run(records, cid, states.RUNNING)
            mounts.started(records.load(cid))
        run(records, "a", states.EXITED)
        mounts.release("a")
        await mounts.settled()
        assert kernel.mounted == {POINT}   # b still uses it
        run(records, "b", states.EXITED)
        mounts.release("b")
        await mounts.settled()
        assert kernel.calls == [("mount", POINT), ("umount", POINT)] and kernel.mounted == set()

    asyncio.run(main())


def test_a_start_during_an_unmount_mounts_again():
    kernel, records, mounts = setup(a_container("a", "shared", status=states.RUNNING), a_container("b", "shared"))
    kernel.mounted.add(POINT)

    async def main():
        run(records, "a", states.EXITED)
        gate = kernel.block("umount2")
        mounts.release("a")
        await _until_set(kernel.entered["umount2"])
        start = asyncio.ensure_future(mounts.at_start("b"))   # the volume is mounted still
        await _until_waiting(mounts, "shared")
        gate.set()
        await start
        await mounts.settled()

    asyncio.run(main())
    assert kernel.calls == [("umount", POINT), ("mount", POINT)] and kernel.mounted == {POINT}


def test_a_copy_of_a_stopped_container_holds_its_volumes():
    kernel, records, mounts = setup(a_container("copied", "shared"),
                                    a_container("runs", "shared", status=states.RUNNING))
    kernel.mounted.add(POINT)

    async def main():
        async with mounts.copying_from(records.load("copied")):
            assert kernel.mounted == {POINT} and mounts.copying == {"shared": 1}
            run(records, "runs", states.EXITED)
            mounts.release("runs")   # its last container stopped: the copy still uses it
            await mounts.settled()
            assert kernel.mounted == {POINT}
        await mounts.settled()
        assert kernel.mounted == set() and not mounts.copying
        async with mounts.copying_from(records.load("copied")):   # mounted for the copy
            assert kernel.mounted == {POINT}
        await mounts.settled()

    asyncio.run(main())
    assert kernel.calls == [("umount", POINT), ("mount", POINT), ("umount", POINT)]


def test_a_start_cancelled_during_its_mount_leaves_nothing_mounted():
    kernel, records, mounts = setup(a_container("a", "shared"))

    async def main():
        gate = kernel.block("mount")
        start = asyncio.ensure_future(mounts.at_start("a"))
        await _until_set(kernel.entered["mount"])
        start.cancel()
        await asyncio.gather(start, return_exceptions=True)
        mounts.release("a")   # as the lifecycle's stopped hook does for a start cut short
        await _until_waiting(mounts, "shared")   # its sweep waits for the mount to end
        gate.set()
        await mounts.settled()

    asyncio.run(main())
    assert kernel.mounted == set() and kernel.calls == [("mount", POINT), ("umount", POINT)]
