"""cgroup v1: a container's cgroup as one directory in each controller's own hierarchy."""

from __future__ import annotations

import os
import time

from .. import devices as device_rules
from .base import Cgroup, Stats, read, read_int, write

CONTROLLERS = ("memory", "cpu", "cpuacct", "pids", "freezer", "blkio", "devices")
UNLIMITED = 1 << 62   # memory.limit_in_bytes reads PAGE_COUNTER_MAX pages' worth when unset


class V1(Cgroup):
    version = 1

    def dir(self, controller: str) -> str:
        return os.path.join(self.root, controller, self.path)

    def dirs(self) -> list[str]:
        # cpuset only for a cgroup that asked for CPUs: a v1 cpuset dir must be given its
        # CPUs and memory nodes before anything may join it.
        cpuset = [self.dir("cpuset")] if os.path.isdir(self.dir("cpuset")) else []
        return [self.dir(c) for c in CONTROLLERS if os.path.isdir(os.path.join(self.root, c))] + cpuset

    def _cpuset(self, cpus: str) -> None:
        """The cgroup's cpuset dir (and those above it, each given its parent's CPUs and
        memory nodes, which a new v1 cpuset dir lacks), with `cpus`."""
        parent = os.path.join(self.root, "cpuset")
        for part in self.path.split("/"):
            d = os.path.join(parent, part)
            os.makedirs(d, exist_ok=True)
            for name in ("cpuset.cpus", "cpuset.mems"):
                if not read(os.path.join(d, name)).strip():
                    write(os.path.join(d, name), read(os.path.join(parent, name)).strip())
            parent = d
        write(os.path.join(parent, "cpuset.cpus"), cpus)

    def create(self, memory: int = 0, memory_swap: int = 0, cpu_shares: int = 0, pids: int = 0,
               devices: list | None = None, cpu_quota: int = 0, cpu_period: int = 0,
               cpuset_cpus: str = "") -> None:
        for d in self.dirs():
            os.makedirs(d, exist_ok=True)
        if cpuset_cpus:
            self._cpuset(cpuset_cpus)
        if cpu_period > 0:
            write(os.path.join(self.dir("cpu"), "cpu.cfs_period_us"), str(cpu_period))
        if cpu_quota > 0:
            write(os.path.join(self.dir("cpu"), "cpu.cfs_quota_us"), str(cpu_quota))
        mem = self.dir("memory")
        if memory > 0:
            write(os.path.join(mem, "memory.limit_in_bytes"), str(memory))
            memsw = os.path.join(mem, "memory.memsw.limit_in_bytes")
            if os.path.exists(memsw):
                write(memsw, "-1" if memory_swap < 0 else str(memory_swap or 2 * memory))
        if cpu_shares > 0:
            write(os.path.join(self.dir("cpu"), "cpu.shares"), str(cpu_shares))
        if pids > 0:
            write(os.path.join(self.dir("pids"), "pids.max"), str(pids))
        if devices is not None:
            device_rules.apply_v1(self.dir("devices"), devices)

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
