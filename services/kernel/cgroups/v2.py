"""cgroup v2: a container's cgroup as one directory of the unified hierarchy."""

from __future__ import annotations

import errno
import os
import select
import time

from .. import devices as device_rules
from . import limits
from .base import Cgroup, Stats, read, read_int, write

# Those a container's limits need, enabled on the way down.
CONTROLLERS = ("memory", "cpu", "cpuset", "pids", "io")


class V2(Cgroup):
    version = 2

    def dir(self) -> str:
        return os.path.join(self.root, self.path)

    def dirs(self) -> list[str]:
        return [self.dir()]

    def create(self, resources: dict | None = None, devices: list | None = None) -> None:
        parts = self.path.split("/")
        for depth in range(len(parts)):
            parent = os.path.join(self.root, *parts[:depth])
            os.makedirs(os.path.join(parent, parts[depth]), exist_ok=True)
            available = read(os.path.join(parent, "cgroup.controllers")).split()
            wanted = [c for c in CONTROLLERS if c in available]
            if wanted:
                try:
                    write(os.path.join(parent, "cgroup.subtree_control"), " ".join("+" + c for c in wanted))
                except OSError:
                    pass
        self.update(resources or {})
        if devices is not None:
            device_rules.apply_v2(self.dir(), devices)

    def update(self, resources: dict) -> None:
        try:
            writes = limits.v2_writes(resources)
        except ValueError as exc:
            raise OSError(errno.EINVAL, str(exc)) from None
        limits.apply(writes, lambda _, name: os.path.join(self.dir(), name))

    def _events(self, name: str) -> dict[str, str]:
        pairs = (line.partition(" ") for line in read(os.path.join(self.dir(), name)).splitlines())
        return {key: value.strip() for key, _, value in pairs}

    def oom_killed(self) -> bool:
        value = self._events("memory.events").get("oom_kill", "")
        return value.isdigit() and int(value) > 0

    def frozen(self) -> bool:
        return self._events("cgroup.events").get("frozen") == "1"

    def freeze(self, timeout: float = 5.0) -> None:
        # cgroup.events changes when the cgroup is frozen, and says so to poll() as POLLPRI
        # (to an fd that has read the file since its last change: it is read through that fd).
        events = os.open(os.path.join(self.dir(), "cgroup.events"), os.O_RDONLY | os.O_CLOEXEC)
        try:
            poller = select.poll()
            poller.register(events, select.POLLPRI)
            write(os.path.join(self.dir(), "cgroup.freeze"), "1")
            deadline = time.monotonic() + timeout
            while "frozen 1" not in os.pread(events, 4096, 0).decode().splitlines():
                left = deadline - time.monotonic()
                if left <= 0:
                    self.thaw()
                    raise TimeoutError(f"the processes of cgroup {self.path} did not freeze")
                poller.poll(max(1, int(left * 1000)))
        finally:
            os.close(events)

    def thaw(self) -> None:
        write(os.path.join(self.dir(), "cgroup.freeze"), "0")

    def stats(self) -> Stats:
        d = self.dir()
        usage = self._events("cpu.stat").get("usage_usec", "")
        return Stats(
            memory_usage=read_int(os.path.join(d, "memory.current")),
            memory_limit=read_int(os.path.join(d, "memory.max")),   # "max": None
            cpu_usage=int(usage) * 1000 if usage.isdigit() else None,
            pids=read_int(os.path.join(d, "pids.current")),
        )
