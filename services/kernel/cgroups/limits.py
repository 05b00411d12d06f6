"""What an OCI `linux.resources` writes to a cgroup's files, as runc writes them (v1 and v2).

Pure: `v1_writes` and `v2_writes` turn the resources (but devices, which
services.kernel.devices applies) into the writes to make, in an order the kernel takes;
`apply` makes them below a cgroup's directories. A key absent from the resources (or
null) leaves its file as it is, but a v2 file may hold several keys (cpu.max: quota and
period; memory.swap.max: from limit and swap): an update passes the whole merged resources,
as runc's does. The values follow the OCI spec as runc reads it:

- memory: limit, swap (memory plus swap; -1 unlimited), reservation (the soft limit),
  swappiness, disableOOMKiller, kernelTCP; kernel (kernel memory) is ignored, as runc and
  kernels since 5.4 ignore it.
- cpu: shares, quota and period (microseconds; quota -1: none), realtimePeriod and
  realtimeRuntime (v1 only), cpus and mems (`0-2,4`).
- pids: limit (-1 or below: none; 0: left as it is).
- blockIO: weight, weightDevice, throttle{Read,Write}{Bps,IOPS}Device (each device by its
  major and minor numbers; a weight or rate of 0 takes the device's own rule away: BFQ's
  files spell that "default", refusing 0 as out of range).
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import Callable

MAX = "max"


@dataclass(frozen=True)
class Write:
    controller: str       # the v1 hierarchy ("memory", "cpu", ...); "" on v2's one directory
    name: str             # the file
    value: str
    fallback: "Write | None" = None   # written instead when `name` is not there (bfq's weight files)
    retry_after_next: bool = False    # EINVAL now may pass once the next write is made


def _present(section: dict | None, key: str):
    value = (section or {}).get(key)
    return value if value is not None else None


def _device_lines(entries, key: str, field: str = "", zero: str = "0") -> list[str]:
    """"major:minor value" of each entry; on v2's io.max `field=` before the value; `zero`
    for 0 (no rule of the device's own: "max" on io.max, "default" on BFQ's weights)."""
    return [f"{e['major']}:{e['minor']} {field}{e[key] or zero}" for e in entries or []]


def v1_memory(memory: dict, limit_now: int | None) -> list[Write]:
    """memory.*; limit and swap in the order the kernel allows from the current limit (the
    memory limit may never pass the memory+swap one)."""
    limit, swap = _present(memory, "limit"), _present(memory, "swap")
    if limit == -1 and swap is None:   # unlimited memory: unlimited swap too, as runc does
        swap = -1
    pair = []
    if limit is not None and limit != 0:
        pair.append(Write("memory", "memory.limit_in_bytes", str(limit)))
    if swap is not None and swap != 0:
        swap_write = Write("memory", "memory.memsw.limit_in_bytes", str(swap))
        growing = swap == -1 or (limit_now is not None and swap > limit_now)
        pair = [swap_write, *pair] if growing else [*pair, swap_write]
    out = pair
    if _present(memory, "reservation") not in (None, 0):
        out.append(Write("memory", "memory.soft_limit_in_bytes", str(memory["reservation"])))
    if _present(memory, "kernelTCP") not in (None, 0):
        out.append(Write("memory", "memory.kmem.tcp.limit_in_bytes", str(memory["kernelTCP"])))
    if _present(memory, "swappiness") is not None:
        out.append(Write("memory", "memory.swappiness", str(memory["swappiness"])))
    if _present(memory, "disableOOMKiller") is not None:
        out.append(Write("memory", "memory.oom_control", "1" if memory["disableOOMKiller"] else "0"))
    return out


def v1_writes(resources: dict, limit_now: int | None = None) -> list[Write]:
    """The v1 writes of `resources`; `limit_now` the memory limit the cgroup has (None: a new one)."""
    out = v1_memory(resources.get("memory") or {}, limit_now)
    cpu = resources.get("cpu") or {}
    # Real-time bandwidth first: a process already SCHED_RR could not join without it.
    if _present(cpu, "realtimePeriod") not in (None, 0):
        out.append(Write("cpu", "cpu.rt_period_us", str(cpu["realtimePeriod"])))
    if _present(cpu, "realtimeRuntime") not in (None, 0):
        out.append(Write("cpu", "cpu.rt_runtime_us", str(cpu["realtimeRuntime"])))
    if _present(cpu, "shares") not in (None, 0):
        out.append(Write("cpu", "cpu.shares", str(cpu["shares"])))
    quota, period = _present(cpu, "quota"), _present(cpu, "period")
    if period not in (None, 0):
        # A shorter period may be refused until the quota that goes with it is written.
        out.append(Write("cpu", "cpu.cfs_period_us", str(period), retry_after_next=quota not in (None, 0)))
    if quota not in (None, 0):
        out.append(Write("cpu", "cpu.cfs_quota_us", str(quota)))
    for key in ("cpus", "mems"):
        if cpu.get(key):
            out.append(Write("cpuset", f"cpuset.{key}", str(cpu[key])))
    out += _pids(resources, "pids")
    block = resources.get("blockIO") or {}
    if _present(block, "weight") not in (None, 0):
        out.append(Write("blkio", "blkio.weight", str(block["weight"]),
                         fallback=Write("blkio", "blkio.bfq.weight", str(block["weight"]))))
    for line, bfq in zip(_device_lines(block.get("weightDevice"), "weight"),
                         _device_lines(block.get("weightDevice"), "weight", zero="default")):
        out.append(Write("blkio", "blkio.weight_device", line,
                         fallback=Write("blkio", "blkio.bfq.weight_device", bfq)))
    for key, name in (("throttleReadBpsDevice", "read_bps_device"), ("throttleWriteBpsDevice", "write_bps_device"),
                      ("throttleReadIOPSDevice", "read_iops_device"),
                      ("throttleWriteIOPSDevice", "write_iops_device")):
        out += [Write("blkio", f"blkio.throttle.{name}", line) for line in _device_lines(block.get(key), "rate")]
    return out


def _pids(resources: dict, controller: str) -> list[Write]:
    limit = _present(resources.get("pids"), "limit")
    if limit in (None, 0):
        return []
    return [Write(controller, "pids.max", str(limit) if limit > 0 else MAX)]


def shares_to_weight(shares: int) -> int:
    """cgroup v1 cpu.shares (2..262144) to v2 cpu.weight (1..10000), as runc converts."""
    return 1 + ((max(2, min(shares, 262144)) - 2) * 9999) // 262142


def blkio_weight_to_io_weight(weight: int) -> int:
    """blkio.weight (10..1000) to v2 io.weight (1..10000), as runc converts."""
    return 1 + (weight - 10) * 9999 // 990


def swap_v2(swap: int, limit: int) -> int | None:
    """OCI memory.swap (memory plus swap) as v2's memory.swap.max (swap alone): -1 for
    "max", None to leave it; ValueError for what cannot be one (runc's rules)."""
    if limit == -1 and swap == 0:
        return -1
    if swap in (-1, 0):
        return swap if swap == -1 else None
    if limit in (0, -1):
        raise ValueError("unable to set swap limit without memory limit")
    if limit < 0:
        raise ValueError(f"invalid memory value: {limit}")
    if swap < limit:
        raise ValueError("memory+swap limit should be >= memory limit")
    return swap - limit


def _v2_number(value: int) -> str:
    return MAX if value == -1 else str(value)


def v2_writes(resources: dict) -> list[Write]:
    """The v2 writes of `resources` (all in the cgroup's one directory). ValueError for a
    swap limit v2 cannot hold."""
    memory, out = resources.get("memory") or {}, []
    limit, swap = _present(memory, "limit") or 0, _present(memory, "swap") or 0
    swap_max = swap_v2(swap, limit)
    if swap_max is not None:
        out.append(Write("", "memory.swap.max", _v2_number(swap_max)))
    elif swap > 0:   # memory+swap equal to memory: no swap at all
        out.append(Write("", "memory.swap.max", "0"))
    if limit:
        out.append(Write("", "memory.max", _v2_number(limit)))
    if _present(memory, "reservation") not in (None, 0):
        out.append(Write("", "memory.low", _v2_number(memory["reservation"])))
    cpu = resources.get("cpu") or {}
    if _present(cpu, "shares") not in (None, 0):
        out.append(Write("", "cpu.weight", str(shares_to_weight(cpu["shares"]))))
    quota, period = _present(cpu, "quota") or 0, _present(cpu, "period") or 0
    if quota or period:
        out.append(Write("", "cpu.max", (str(quota) if quota > 0 else MAX) + (f" {period}" if period else "")))
    for key in ("cpus", "mems"):
        if cpu.get(key):
            out.append(Write("", f"cpuset.{key}", str(cpu[key])))
    out += _pids(resources, "")
    block = resources.get("blockIO") or {}
    weight = _present(block, "weight") or 0
    if weight:
        out.append(Write("", "io.bfq.weight", str(weight),
                         fallback=Write("", "io.weight", str(blkio_weight_to_io_weight(weight)))))
    # Per-device weights only through BFQ (io.weight's own take another scale).
    out += [Write("", "io.bfq.weight", line)
            for line in _device_lines(block.get("weightDevice"), "weight", zero="default")]
    for key, field in (("throttleReadBpsDevice", "rbps="), ("throttleWriteBpsDevice", "wbps="),
                       ("throttleReadIOPSDevice", "riops="), ("throttleWriteIOPSDevice", "wiops=")):
        out += [Write("", "io.max", line) for line in _device_lines(block.get(key), "rate", field, MAX)]
    return out


def _write(path: str, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


def apply(writes: list[Write], path_of: Callable[[str, str], str]) -> None:
    """Make `writes`; `path_of(controller, name)` is a file's path. A file that is not there
    (a controller or knob this host lacks: create refused or warned already) is skipped.
    OSError, naming the file and the value, for a write the kernel refuses."""
    pending = list(writes)
    while pending:
        w = pending.pop(0)
        path = path_of(w.controller, w.name)
        if not os.path.exists(path) and w.fallback is not None:
            w, path = w.fallback, path_of(w.fallback.controller, w.fallback.name)
        if not os.path.exists(path):
            continue
        try:
            _write(path, w.value)
        except OSError as exc:
            if w.retry_after_next and exc.errno == errno.EINVAL and pending:
                pending.insert(1, Write(w.controller, w.name, w.value))
                continue
            raise OSError(exc.errno, f'cannot write "{w.value}" to {path}: {exc.strerror}') from None
