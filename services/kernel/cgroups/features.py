"""Which resource limits this host's cgroups can hold, as dockerd's sysinfo tells them.

v1: a limit is there when its controller is mounted and its file is in the controller's
root (memory.memsw.limit_in_bytes for swap, cpu.rt_period_us for real-time...). v2: when
the root's cgroup.controllers lists its controller, with what v2 never has (swappiness,
OOM-kill disabling, kernel memory, real-time) always absent. Read from any `root`, so
unit tests can read a tree of files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .base import ROOT, is_v2, read


@dataclass(frozen=True)
class Features:
    memory_limit: bool = False
    swap_limit: bool = False
    memory_reservation: bool = False
    oom_kill_disable: bool = False
    memory_swappiness: bool = False
    kernel_memory: bool = False
    kernel_memory_tcp: bool = False
    cpu_shares: bool = False
    cpu_cfs: bool = False
    cpu_realtime: bool = False
    cpuset: bool = False
    cpus: str = ""       # the CPUs a container may ask for (`0-3`)
    mems: str = ""       # and the memory nodes
    blkio_weight: bool = False
    blkio_weight_device: bool = False
    blkio_read_bps: bool = False
    blkio_write_bps: bool = False
    blkio_read_iops: bool = False
    blkio_write_iops: bool = False
    pids_limit: bool = False


def _v1(root: str) -> Features:
    def has(controller: str, name: str = "") -> bool:
        return os.path.exists(os.path.join(root, controller, name))
    memory = has("memory")
    cpuset = has("cpuset")
    return Features(
        memory_limit=memory,
        swap_limit=has("memory", "memory.memsw.limit_in_bytes"),
        memory_reservation=has("memory", "memory.soft_limit_in_bytes"),
        oom_kill_disable=has("memory", "memory.oom_control"),
        memory_swappiness=has("memory", "memory.swappiness"),
        kernel_memory=has("memory", "memory.kmem.limit_in_bytes"),
        kernel_memory_tcp=has("memory", "memory.kmem.tcp.limit_in_bytes"),
        cpu_shares=has("cpu", "cpu.shares"),
        cpu_cfs=has("cpu", "cpu.cfs_quota_us"),
        cpu_realtime=has("cpu", "cpu.rt_period_us"),
        cpuset=cpuset,
        cpus=read(os.path.join(root, "cpuset", "cpuset.cpus")).strip() if cpuset else "",
        mems=read(os.path.join(root, "cpuset", "cpuset.mems")).strip() if cpuset else "",
        blkio_weight=has("blkio", "blkio.weight"),
        blkio_weight_device=has("blkio", "blkio.weight_device"),
        blkio_read_bps=has("blkio", "blkio.throttle.read_bps_device"),
        blkio_write_bps=has("blkio", "blkio.throttle.write_bps_device"),
        blkio_read_iops=has("blkio", "blkio.throttle.read_iops_device"),
        blkio_write_iops=has("blkio", "blkio.throttle.write_iops_device"),
        pids_limit=has("pids"),
    )


def _swap_v2(root: str) -> bool:
    """memory.swap.max in this process's own cgroup (dockerd's test): there only with swap
    accounting on."""
    for line in read("/proc/self/cgroup").splitlines():
        hierarchy, _, path = line.partition("::")
        if hierarchy == "0" and path.strip("/"):
            return os.path.exists(os.path.join(root, path.strip("/"), "memory.swap.max"))
    return False


def _v2(root: str) -> Features:
    controllers = set(read(os.path.join(root, "cgroup.controllers")).split())
    memory, cpu, io, cpuset = ("memory" in controllers, "cpu" in controllers, "io" in controllers,
                               "cpuset" in controllers)
    return Features(
        memory_limit=memory, swap_limit=memory and _swap_v2(root), memory_reservation=memory,
        cpu_shares=cpu, cpu_cfs=cpu, cpuset=cpuset,
        cpus=read(os.path.join(root, "cpuset.cpus.effective")).strip() if cpuset else "",
        mems=read(os.path.join(root, "cpuset.mems.effective")).strip() if cpuset else "",
        blkio_weight=io, blkio_weight_device=io, blkio_read_bps=io, blkio_write_bps=io, blkio_read_iops=io,
        blkio_write_iops=io, pids_limit="pids" in controllers,
    )


def features(root: str = ROOT) -> Features:
    """What the hierarchy mounted at `root` can limit."""
    return _v2(root) if is_v2(root) else _v1(root)
