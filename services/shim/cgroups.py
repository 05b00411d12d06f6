"""A container's cgroup, behind one interface for cgroup v1 (per-controller trees) and v2."""

from __future__ import annotations

import errno
import os
import signal
import time

from . import devices as device_rules

ROOT = "/sys/fs/cgroup"
V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids", "freezer", "blkio", "devices")


def is_v2() -> bool:
    return os.path.exists(os.path.join(ROOT, "cgroup.controllers"))


def _write(path: str, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


def _read(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return ""


def cgroup_path(parent: str, name: str) -> str:
    """`parent/name` below the cgroup root, as Docker's --cgroup-parent places containers.

    The parent may be written "/docker" or "docker"; it may not climb out of the root."""
    parts = [p for p in parent.split("/") if p not in ("", ".")]
    if not parts or ".." in parts or any(not p.isprintable() for p in parts):
        raise ValueError(f"cgroup parent {parent!r} must name a cgroup below the root, without '..'")
    return "/".join([*parts, name])


def shares_to_weight(shares: int) -> int:
    """cgroup v1 cpu.shares (2..262144) to v2 cpu.weight (1..10000), as runc converts."""
    return 1 + ((max(2, min(shares, 262144)) - 2) * 9999) // 262142


def prime_migration() -> None:
    """Move this process into the cgroup it is in already, to have a container's start wait less.

    After a quiet spell the kernel makes the first migration into a cgroup wait for an RCU
    grace period (10-20 ms here) and lets those soon after it pass at once. Called as a start
    begins, in a thread, the wait runs alongside the shim's own work instead of in front
    of the container's exec. Failing costs nothing, so it is not reported."""
    v2 = is_v2()
    try:
        with open("/proc/self/cgroup") as fh:
            lines = [line.rstrip("\n").split(":", 2) for line in fh]
        for _, controllers, path in lines:
            if (v2 and controllers == "") or (not v2 and controllers in V1_CONTROLLERS):
                base = ROOT if v2 else os.path.join(ROOT, controllers)
                _write(os.path.join(base, path.strip("/"), "cgroup.procs"), str(os.getpid()))
                return
    except (OSError, ValueError):
        pass


class Cgroup:
    def __init__(self, path: str):
        self.path = path.strip("/")  # e.g. "dockyard/<id>"
        self.v2 = is_v2()

    def dirs(self) -> list[str]:
        if self.v2:
            return [os.path.join(ROOT, self.path)]
        return [os.path.join(ROOT, c, self.path) for c in V1_CONTROLLERS
                if os.path.isdir(os.path.join(ROOT, c))]

    def create(self, memory: int = 0, memory_swap: int = 0, cpu_shares: int = 0, pids: int = 0,
               devices: list[device_rules.Rule] | None = None) -> None:
        """Make the cgroup and set its limits and device rules, before any process joins it."""
        if self.v2:
            parts = self.path.split("/")
            for depth in range(len(parts)):
                parent = os.path.join(ROOT, *parts[:depth])
                os.makedirs(os.path.join(parent, parts[depth]), exist_ok=True)
                available = _read(os.path.join(parent, "cgroup.controllers")).split()
                wanted = [c for c in ("memory", "cpu", "pids") if c in available]
                if wanted:
                    try:
                        _write(os.path.join(parent, "cgroup.subtree_control"),
                               " ".join("+" + c for c in wanted))
                    except OSError:
                        pass
            d = os.path.join(ROOT, self.path)
            if memory > 0:
                _write(os.path.join(d, "memory.max"), str(memory))
                if os.path.exists(os.path.join(d, "memory.swap.max")):
                    swap = "max" if memory_swap < 0 else str(max(0, (memory_swap or 2 * memory) - memory))
                    _write(os.path.join(d, "memory.swap.max"), swap)
            if cpu_shares > 0 and os.path.exists(os.path.join(d, "cpu.weight")):
                _write(os.path.join(d, "cpu.weight"), str(shares_to_weight(cpu_shares)))
            if pids > 0 and os.path.exists(os.path.join(d, "pids.max")):
                _write(os.path.join(d, "pids.max"), str(pids))
            if devices is not None:
                device_rules.apply_v2(d, devices)
            return
        for d in self.dirs():
            os.makedirs(d, exist_ok=True)
        mem = os.path.join(ROOT, "memory", self.path)
        if memory > 0:
            _write(os.path.join(mem, "memory.limit_in_bytes"), str(memory))
            memsw = os.path.join(mem, "memory.memsw.limit_in_bytes")
            if os.path.exists(memsw):
                _write(memsw, "-1" if memory_swap < 0 else str(memory_swap or 2 * memory))
        if cpu_shares > 0:
            _write(os.path.join(ROOT, "cpu", self.path, "cpu.shares"), str(cpu_shares))
        if pids > 0:
            _write(os.path.join(ROOT, "pids", self.path, "pids.max"), str(pids))
        if devices is not None:
            device_rules.apply_v1(os.path.join(ROOT, "devices", self.path), devices)

    def add(self, pid: int) -> None:
        for d in self.dirs():
            if os.path.isdir(d):
                _write(os.path.join(d, "cgroup.procs"), str(pid))

    def pids(self) -> list[int]:
        d = self.dirs()[0] if self.dirs() else ""
        return [int(p) for p in _read(os.path.join(d, "cgroup.procs")).split()]

    def oom_killed(self) -> bool:
        if self.v2:
            events = _read(os.path.join(ROOT, self.path, "memory.events"))
        else:
            events = _read(os.path.join(ROOT, "memory", self.path, "memory.oom_control"))
        for line in events.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value) > 0
        return False

    def destroy(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        for d in self.dirs():
            while os.path.isdir(d):
                try:
                    os.rmdir(d)
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                        raise
                    for pid in [int(p) for p in _read(os.path.join(d, "cgroup.procs")).split()]:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                    time.sleep(0.02)
