"""What a container's cgroup (and its processes) use, shaped as Docker's stats object parts.

Pure readers of cgroup files (v1.V1 or v2.V2, below any `root`), of /proc/stat and of a
process's net/dev text: each takes a Cgroup or a file's text and returns the dict Docker's
GET /containers/{id}/stats shows (its cpu_stats, memory_stats, pids_stats, blkio_stats,
networks), so that they can be tested on a tree of files in a tmp dir.
"""

from __future__ import annotations

import os

from .base import Cgroup, read

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
NS = 1_000_000_000
BLKIO_KEYS = ("io_service_bytes_recursive", "io_serviced_recursive", "io_queue_recursive",
              "io_service_time_recursive", "io_wait_time_recursive", "io_merged_recursive",
              "io_time_recursive", "sectors_recursive")


def _int(text: str) -> int:
    text = text.strip()
    return int(text) if text.lstrip("-").isdigit() else 0


def _pairs(text: str) -> dict[str, int]:
    """A flat keyed file ("key value" lines) as ints."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key and value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out


def _v1(cg: Cgroup, controller: str, name: str) -> str:
    return read(os.path.join(cg.root, controller, cg.path, name))


def _v2(cg: Cgroup, name: str) -> str:
    return read(os.path.join(cg.root, cg.path, name))


def cpu_stats(cg: Cgroup, system_usage: int, online_cpus: int) -> dict:
    """cpu_stats: cpu_usage (ns), system_cpu_usage, online_cpus, throttling_data."""
    if cg.version == 2:
        stat = _pairs(_v2(cg, "cpu.stat"))
        usage = {"total_usage": stat.get("usage_usec", 0) * 1000,
                 "usage_in_kernelmode": stat.get("system_usec", 0) * 1000,
                 "usage_in_usermode": stat.get("user_usec", 0) * 1000}
        throttling = {"periods": stat.get("nr_periods", 0), "throttled_periods": stat.get("nr_throttled", 0),
                      "throttled_time": stat.get("throttled_usec", 0) * 1000}
    else:
        ticks = _pairs(_v1(cg, "cpuacct", "cpuacct.stat"))
        usage = {"total_usage": _int(_v1(cg, "cpuacct", "cpuacct.usage")),
                 "usage_in_kernelmode": ticks.get("system", 0) * NS // CLK_TCK,
                 "usage_in_usermode": ticks.get("user", 0) * NS // CLK_TCK}
        percpu = [int(v) for v in _v1(cg, "cpuacct", "cpuacct.usage_percpu").split() if v.isdigit()]
        if percpu:
            usage["percpu_usage"] = percpu
        stat = _pairs(_v1(cg, "cpu", "cpu.stat"))
        throttling = {"periods": stat.get("nr_periods", 0), "throttled_periods": stat.get("nr_throttled", 0),
                      "throttled_time": stat.get("throttled_time", 0)}
    return {"cpu_usage": usage, "system_cpu_usage": system_usage, "online_cpus": online_cpus,
            "throttling_data": throttling}


def memory_stats(cg: Cgroup, host_total: int) -> dict:
    """memory_stats: usage, limit (at most the host's memory, as dockerd caps it), stats;
    on v1 also max_usage and failcnt."""
    if cg.version == 2:
        limit_text = _v2(cg, "memory.max").strip()
        limit = int(limit_text) if limit_text.isdigit() else host_total
        out = {"usage": _int(_v2(cg, "memory.current")), "stats": _pairs(_v2(cg, "memory.stat"))}
    else:
        limit = _int(_v1(cg, "memory", "memory.limit_in_bytes"))
        out = {"usage": _int(_v1(cg, "memory", "memory.usage_in_bytes")),
               "max_usage": _int(_v1(cg, "memory", "memory.max_usage_in_bytes")),
               "stats": _pairs(_v1(cg, "memory", "memory.stat")),
               "failcnt": _int(_v1(cg, "memory", "memory.failcnt"))}
    out["limit"] = min(limit, host_total) if host_total > 0 and limit > 0 else limit
    return out


def pids_stats(cg: Cgroup) -> dict:
    """pids_stats: current, and limit where pids.max sets one (Docker omits it otherwise)."""
    if cg.version == 2:
        current, limit = _v2(cg, "pids.current"), _v2(cg, "pids.max")
    else:
        current, limit = _v1(cg, "pids", "pids.current"), _v1(cg, "pids", "pids.max")
    out = {"current": _int(current)}
    if limit.strip().isdigit():
        out["limit"] = int(limit)
    return out


def _blkio_v1_entries(text: str) -> list[dict] | None:
    entries = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 3 or ":" not in fields[0] or not fields[2].isdigit():
            continue   # the "Total N" line
        major, _, minor = fields[0].partition(":")
        entries.append({"major": int(major), "minor": int(minor), "op": fields[1], "value": int(fields[2])})
    return entries or None


def blkio_stats(cg: Cgroup) -> dict:
    """blkio_stats: on v1 from blkio's recursive files (the throttle ones where the CFQ ones
    are absent or empty), on v2 io_service_bytes_recursive (read/write) and
    io_serviced_recursive (read/write ios) from io.stat; the other lists null."""
    out: dict = dict.fromkeys(BLKIO_KEYS)
    if cg.version == 2:
        served, ios = [], []
        for line in _v2(cg, "io.stat").splitlines():
            fields = line.split()
            if not fields or ":" not in fields[0]:
                continue
            major, _, minor = fields[0].partition(":")
            values = _pairs("\n".join(f.replace("=", " ", 1) for f in fields[1:]))
            dev = {"major": int(major), "minor": int(minor)}
            served += [{**dev, "op": "read", "value": values.get("rbytes", 0)},
                       {**dev, "op": "write", "value": values.get("wbytes", 0)}]
            ios += [{**dev, "op": "read", "value": values.get("rios", 0)},
                    {**dev, "op": "write", "value": values.get("wios", 0)}]
        out["io_service_bytes_recursive"] = served or None
        out["io_serviced_recursive"] = ios or None
        return out
    for key, name in (("io_service_bytes_recursive", "io_service_bytes_recursive"),
                      ("io_serviced_recursive", "io_serviced_recursive")):
        out[key] = (_blkio_v1_entries(_v1(cg, "blkio", f"blkio.{name}"))
                    or _blkio_v1_entries(_v1(cg, "blkio", f"blkio.throttle.{name.removesuffix('_recursive')}")))
    return out


def system_cpu_usage(proc_stat: str) -> int:
    """The host's CPU time in ns, from /proc/stat's "cpu" line (its first seven fields, as dockerd sums)."""
    for line in proc_stat.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            return sum(int(v) for v in fields[1:8]) * NS // CLK_TCK
    return 0


NET_KEYS = ("rx_bytes", "rx_packets", "rx_errors", "rx_dropped", "tx_bytes", "tx_packets", "tx_errors", "tx_dropped")
_NET_COLUMNS = {"rx_bytes": 0, "rx_packets": 1, "rx_errors": 2, "rx_dropped": 3,
                "tx_bytes": 8, "tx_packets": 9, "tx_errors": 10, "tx_dropped": 11}


def networks(net_dev: str) -> dict:
    """networks: each interface of a /proc/<pid>/net/dev text but lo, with Docker's counters."""
    out = {}
    for line in net_dev.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        name, values = name.strip(), rest.split()
        if not sep or name == "lo" or len(values) < 16:
            continue
        out[name] = {key: int(values[col]) for key, col in _NET_COLUMNS.items()}
    return out
