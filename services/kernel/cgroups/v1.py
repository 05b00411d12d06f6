"""cgroup v1: a container's cgroup as one directory in each controller's own hierarchy."""

from __future__ import annotations

import os
import time

from .. import devices as device_rules
from . import limits
from .base import Cgroup, Stats, read, read_int, write

CONTROLLERS = ("memory", "cpu", "cpuacct", "pids", "freezer", "blkio", "devices")
UNLIMITED = 1 << 62   # memory.limit_in_bytes reads PAGE_COUNTER_MAX pages' worth when unset


class V1(Cgroup):
    version = 1

    def dir(self, controller: str) -> str:
        return os.path.join(self.root, controller, self.path)

    def dirs(self) -> list[str]:
        # cpuset's last: a v1 cpuset dir is made apart (see _cpuset), and a cgroup made
        # before it had one may lack it.
        cpuset = [self.dir("cpuset")] if os.path.isdir(self.dir("cpuset")) else []
        return [self.dir(c) for c in CONTROLLERS if os.path.isdir(os.path.join(self.root, c))] + cpuset

    def _cpuset(self) -> None:
        """The cgroup's cpuset dir, and those above it, each given its parent's CPUs and
        memory nodes (a new v1 cpuset dir has none, and nothing may join it then)."""
        parent = os.path.join(self.root, "cpuset")
        if not os.path.isdir(parent):
            return
        for part in self.path.split("/"):
            d = os.path.join(parent, part)
            os.makedirs(d, exist_ok=True)
            for name in ("cpuset.cpus", "cpuset.mems"):
                if not read(os.path.join(d, name)).strip():
                    write(os.path.join(d, name), read(os.path.join(parent, name)).strip())
            parent = d

    def _path(self, controller: str, name: str) -> str:
        return os.path.join(self.dir(controller), name)

    def create(self, resources: dict | None = None, devices: list | None = None) -> None:
        self._cpuset()
        for d in self.dirs():
            os.makedirs(d, exist_ok=True)
        limits.apply(limits.v1_writes(resources or {}), self._path)
        if devices is not None:
            device_rules.apply_v1(self.dir("devices"), devices)

    def update(self, resources: dict) -> None:
        limit_now = read_int(self._path("memory", "memory.limit_in_bytes"))
        limits.apply(limits.v1_writes(resources, limit_now), self._path)

    def oom_killed(self) -> bool:
        for line in read(os.path.join(self.dir("memory"), "memory.oom_control")).splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value) > 0
        return False

    def frozen(self) -> bool:
        return read(os.path.join(self.dir("freezer"), "freezer.state")).strip() == "FROZEN"

    def freeze(self, timeout: float = 5.0) -> None:
        # The v1 freezer says FREEZING until every task has stopped, and tells no one when
        # that happens: read the state again until it does (as runc does).
        state = os.path.join(self.dir("freezer"), "freezer.state")
        write(state, "FROZEN")
        deadline = time.monotonic() + timeout
        while not self.frozen():
            if time.monotonic() > deadline:
                self.thaw()
                raise TimeoutError(f"the processes of cgroup {self.path} did not freeze")
            time.sleep(0.001)

    def thaw(self) -> None:
        write(os.path.join(self.dir("freezer"), "freezer.state"), "THAWED")

    def stats(self) -> Stats:
        limit = read_int(os.path.join(self.dir("memory"), "memory.limit_in_bytes"))
        return Stats(
            memory_usage=read_int(os.path.join(self.dir("memory"), "memory.usage_in_bytes")),
            memory_limit=limit if limit is not None and limit < UNLIMITED else None,
            cpu_usage=read_int(os.path.join(self.dir("cpuacct"), "cpuacct.usage")),
            pids=read_int(os.path.join(self.dir("pids"), "pids.current")),
        )

    def destroy(self, timeout: float = 5.0) -> None:
        if self.frozen():
            self.thaw()  # a frozen task cannot die of the SIGKILL that removal may send
        super().destroy(timeout)
