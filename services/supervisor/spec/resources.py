"""HostConfig's resource limits (Docker's Resources, and OomScoreAdj) read as dockerd reads
them, and what they make of a bundle's linux.resources.

`read` checks a create's (or, with update=True, an update's) settings against Docker's rules
and this host's cgroups (`features`), in dockerd's words (verifyPlatformContainerResources,
runconfig's validateResources and validateQoS): a refusal is a BadParameter; a limit the host
cannot hold is discarded with Docker's warning. It returns the settings as the record keeps
them: Docker's defaults filled in at create (MemorySwap twice Memory, OomKillDisable false).
`oci` turns a record's HostConfig into the OCI linux.resources runc and the built-in runtime
both apply (devices aside: bundle.devices).
"""

from __future__ import annotations

import functools
import os
import stat

from services.common import errors
from services.kernel import cgroups
from services.kernel.cgroups import Features

MIN_MEMORY = 6 << 20     # dockerd's linuxMinMemory: room for a container's start
CFS_PERIOD = 100_000     # the period NanoCpus is counted in (100 ms), as dockerd sets it
THROTTLES = ("BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps")
DEVICE_LISTS = ("BlkioWeightDevice", *THROTTLES)
OCI_THROTTLES = dict(zip(THROTTLES, ("throttleReadBpsDevice", "throttleWriteBpsDevice", "throttleReadIOPSDevice",
                                     "throttleWriteIOPSDevice")))
_DEVICE_VALUE = {"BlkioWeightDevice": "Weight", **dict.fromkeys(THROTTLES, "Rate")}   # each entry's number
NUMBERS = ("Memory", "MemorySwap", "MemoryReservation", "KernelMemory", "KernelMemoryTCP", "NanoCpus", "CpuShares",
           "CpuPeriod", "CpuQuota", "CpuRealtimePeriod", "CpuRealtimeRuntime", "CpuCount", "CpuPercent",
           "BlkioWeight", "IOMaximumIOps", "IOMaximumBandwidth")
# Those a record keeps only when set (dockerd's `json:",omitempty"`).
OMITTED_WHEN_ZERO = ("KernelMemory", "KernelMemoryTCP")


@functools.lru_cache(maxsize=1)
def host_features() -> Features:
    """This host's, read once: its cgroup hierarchies do not change under a running daemon."""
    return cgroups.features()


def cpu_count() -> int:
    """The CPUs this process may run on (dockerd's sysinfo.NumCPU)."""
    return len(os.sched_getaffinity(0))


def _cpu_list(text: str) -> set[int]:
    """A cpuset list (`0-2,4`) as dockerd's parsers.ParseUintList reads it; ValueError else."""
    out: set[int] = set()
    for part in text.split(",") if text else []:
        first, dash, last = part.partition("-")
        if not first.isdigit() or (dash and not last.isdigit()) or int(last or first) < int(first):
            raise ValueError(f"invalid format: {text}")
        if int(last or first) > 8192:
            raise ValueError("value of out range, maximum is 8192")
        out |= set(range(int(first), int(last or first) + 1))
    return out


def _cpuset(wanted: str, available: str, what: str, plural: str) -> None:
    try:
        asked = _cpu_list(wanted)
    except ValueError as exc:
        raise errors.BadParameter(f"Invalid value {wanted} for cpuset {what}: {exc}") from None
    if not asked <= _cpu_list(available):
        raise errors.BadParameter(f"Requested {plural} are not available - requested {wanted}, "
                                  f"available: {available}")


def block_device(path, where: str) -> tuple[int, int]:
    """The major and minor numbers of the block device at `path`; BadParameter if there is none."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise errors.BadParameter(f"{where}.Path must be the absolute path of a block device")
    try:
        st = os.stat(path)
    except OSError as exc:
        raise errors.BadParameter(f"stat {path}: {(exc.strerror or str(exc)).lower()}") from None
    if not stat.S_ISBLK(st.st_mode):
        raise errors.BadParameter(f"{path} is not a block device")
    return os.major(st.st_rdev), os.minor(st.st_rdev)


def _discard(r: dict, warnings: list[str], when: bool, text: str, **zeroes) -> None:
    if when:
        warnings.append(text)
        r.update(zeroes)


def _memory(r: dict, f: Features, update: bool, warnings: list[str]) -> None:
    if r["Memory"] != 0 and r["Memory"] < MIN_MEMORY:
        raise errors.BadParameter("Minimum memory limit allowed is 6MB")
    _discard(r, warnings, r["Memory"] > 0 and not f.memory_limit, "Your kernel does not support memory limit "
             "capabilities or the cgroup is not mounted. Limitation discarded.", Memory=0, MemorySwap=-1)
    _discard(r, warnings, r["Memory"] > 0 and r["MemorySwap"] != -1 and not f.swap_limit, "Your kernel does not "
             "support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.",
             MemorySwap=-1)
    if r["Memory"] > 0 and 0 < r["MemorySwap"] < r["Memory"]:
        raise errors.BadParameter("Minimum memoryswap limit should be larger than memory limit, see usage")
    if r["Memory"] == 0 and r["MemorySwap"] > 0 and not update:
        raise errors.BadParameter("You should always set the Memory limit when using Memoryswap limit, see usage")
    _discard(r, warnings, r["MemorySwappiness"] is not None and not f.memory_swappiness, "Your kernel does not "
             "support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.",
             MemorySwappiness=None)
    if r["MemorySwappiness"] is not None and not 0 <= r["MemorySwappiness"] <= 100:
        raise errors.BadParameter(f"Invalid value: {r['MemorySwappiness']}, valid memory swappiness range is 0-100")
    _discard(r, warnings, r["MemoryReservation"] > 0 and not f.memory_reservation, "Your kernel does not support "
             "memory soft limit capabilities or the cgroup is not mounted. Limitation discarded.", MemoryReservation=0)
    if 0 < r["MemoryReservation"] < MIN_MEMORY:
        raise errors.BadParameter("Minimum memory reservation allowed is 6MB")
    if r["Memory"] > 0 and r["MemoryReservation"] > 0 and r["Memory"] < r["MemoryReservation"]:
        raise errors.BadParameter("Minimum memory limit can not be less than memory reservation limit, see usage")
    if r["KernelMemory"] > 0:
        # Kernels since 5.4 ignore it and so does runc; it is kept, as dockerd keeps it.
        _discard(r, warnings, not f.kernel_memory, "Your kernel does not support kernel memory limit capabilities "
                 "or the cgroup is not mounted. Limitation discarded.", KernelMemory=0)
        if 0 < r["KernelMemory"] < MIN_MEMORY:
            raise errors.BadParameter("Minimum kernel memory limit allowed is 6MB")
    if r["OomKillDisable"] is not None and not f.oom_kill_disable:
        # A warning only for one that asked to disable it: asking to keep it is no loss.
        _discard(r, warnings, r["OomKillDisable"], "Your kernel does not support OomKillDisable. "
                 "OomKillDisable discarded.")
        r["OomKillDisable"] = None
    if r["OomKillDisable"] and r["Memory"] == 0:
        warnings.append("OOM killer is disabled for the container, but no memory limit is set, this can result in "
                        "the system running out of resources.")
    if r["PidsLimit"] is not None and not f.pids_limit:
        _discard(r, warnings, r["PidsLimit"] > 0, "Your kernel does not support PIDs limit capabilities or the "
                 "cgroup is not mounted. PIDs limit discarded.")
        r["PidsLimit"] = None


def _cpu(r: dict, f: Features, warnings: list[str]) -> None:
    if r["NanoCpus"] > 0 and r["CpuPeriod"] > 0:
        raise errors.BadParameter("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if r["NanoCpus"] > 0 and r["CpuQuota"] > 0:
        raise errors.BadParameter("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    if r["NanoCpus"] > 0 and not f.cpu_cfs:
        raise errors.BadParameter("NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or "
                                  "the cgroup is not mounted")
    n = cpu_count()
    if r["NanoCpus"] < 0 or r["NanoCpus"] > n * 10**9:
        raise errors.BadParameter(f"Range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available")
    if r["CpuShares"] < 0:   # the kernel would refuse it at the start
        raise errors.BadParameter(f"invalid CPU shares ({r['CpuShares']}): value must be a positive integer")
    _discard(r, warnings, r["CpuShares"] > 0 and not f.cpu_shares, "Your kernel does not support CPU shares or "
             "the cgroup is not mounted. Shares discarded.", CpuShares=0)
    _discard(r, warnings, bool(r["CpuPeriod"] or r["CpuQuota"]) and not f.cpu_cfs, "Your kernel does not support "
             "CPU CFS scheduler. CPU period/quota discarded.", CpuPeriod=0, CpuQuota=0)
    if r["CpuPeriod"] != 0 and not 1000 <= r["CpuPeriod"] <= 1_000_000:
        raise errors.BadParameter("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s "
                                  "(i.e. 1000000)")
    if 0 < r["CpuQuota"] < 1000 or r["CpuQuota"] < -1:   # -1: no quota
        raise errors.BadParameter("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    _discard(r, warnings, r["CpuPercent"] > 0, "linux does not support CPU percent. Percent discarded.",
             CpuPercent=0)
    _discard(r, warnings, bool(r["CpusetCpus"] or r["CpusetMems"]) and not f.cpuset, "Your kernel does not "
             "support cpuset or the cgroup is not mounted. Cpuset discarded.", CpusetCpus="", CpusetMems="")
    _cpuset(r["CpusetCpus"], f.cpus, "cpus", "CPUs")
    _cpuset(r["CpusetMems"], f.mems, "mems", "memory nodes")


def _realtime(r: dict, f: Features) -> None:
    """runconfig's validateResources (a create's only, in dockerd; an update's too, here)."""
    if (r["CpuRealtimePeriod"] or r["CpuRealtimeRuntime"]) and not f.cpu_realtime:
        raise errors.BadParameter("Your kernel does not support CPU real-time scheduler")
    if r["CpuRealtimePeriod"] and r["CpuRealtimeRuntime"] and r["CpuRealtimeRuntime"] > r["CpuRealtimePeriod"]:
        raise errors.BadParameter("cpu real-time runtime cannot be higher than cpu real-time period")


def _blkio(r: dict, f: Features, warnings: list[str]) -> None:
    _discard(r, warnings, r["BlkioWeight"] > 0 and not f.blkio_weight, "Your kernel does not support Block I/O "
             "weight or the cgroup is not mounted. Weight discarded.", BlkioWeight=0)
    if r["BlkioWeight"] > 0 and not 10 <= r["BlkioWeight"] <= 1000:
        raise errors.BadParameter("Range of blkio weight is from 10 to 1000")
    if r["IOMaximumBandwidth"] or r["IOMaximumIOps"]:
        raise errors.BadParameter("Invalid QoS settings: linux does not support Maximum IO Bandwidth or "
                                  "Maximum IO IOps")
    for key, supported, text in (
            ("BlkioWeightDevice", f.blkio_weight_device, "Block I/O weight_device or the cgroup is not mounted. "
                                                         "Weight-device discarded."),
            ("BlkioDeviceReadBps", f.blkio_read_bps, "BPS Block I/O read limit or the cgroup is not mounted. "
                                                     "Block I/O BPS read limit discarded."),
            ("BlkioDeviceWriteBps", f.blkio_write_bps, "BPS Block I/O write limit or the cgroup is not mounted. "
                                                       "Block I/O BPS write limit discarded."),
            ("BlkioDeviceReadIOps", f.blkio_read_iops, "IOPS Block read limit or the cgroup is not mounted. "
                                                       "Block I/O IOPS read limit discarded."),
            ("BlkioDeviceWriteIOps", f.blkio_write_iops, "IOPS Block write limit or the cgroup is not mounted. "
                                                         "Block I/O IOPS write limit discarded.")):
        _discard(r, warnings, bool(r[key]) and not supported, "Your kernel does not support " + text, **{key: []})
        for number, entry in enumerate(r[key] or []):
            block_device(entry.get("Path"), f"HostConfig.{key}[{number}]")
        if r[key]:   # as Go decodes them: a Weight or Rate not given (or null) is 0
            value = _DEVICE_VALUE[key]
            r[key] = [{"Path": entry["Path"], value: entry.get(value) or 0} for entry in r[key]]


def _given(host: dict, config: dict) -> dict:
    """The resource settings of a body (checked JSON types), absent ones at Docker's zero;
    Memory, MemorySwap and CpuShares from the top level where v1.0 puts them."""
    r = {key: host.get(key) or 0 for key in NUMBERS}
    for key in ("Memory", "MemorySwap", "CpuShares"):
        r[key] = r[key] or config.get(key) or 0
    r.update(CpusetCpus=host.get("CpusetCpus") or "", CpusetMems=host.get("CpusetMems") or "",
             MemorySwappiness=host.get("MemorySwappiness"), OomKillDisable=host.get("OomKillDisable"),
             PidsLimit=host.get("PidsLimit"), OomScoreAdj=host.get("OomScoreAdj") or 0)
    if r["MemorySwappiness"] == -1:   # dockerd's fixMemorySwappiness: -1 is "not set"
        r["MemorySwappiness"] = None
    for key in DEVICE_LISTS:
        r[key] = host.get(key)
    return r


def read(host: dict, config: dict | None = None, update: bool = False,
         features: Features | None = None) -> tuple[dict, list[str]]:
    """The resource settings of a create's HostConfig (and v1.0 top level `config`), or of
    an update's body: (their values as the record keeps them, Docker's warnings)."""
    f = features or host_features()
    r, warnings = _given(host, config or {}), []
    if not update and (r["IOMaximumBandwidth"] or r["IOMaximumIOps"]):   # runconfig's validateQoS
        what = "maximum bandwidth" if r["IOMaximumBandwidth"] else "maximum IOPs"
        raise errors.BadParameter(f"Invalid QoS settings: linux does not support configuration of {what}")
    _realtime(r, f)
    _memory(r, f, update, warnings)
    _cpu(r, f, warnings)
    _blkio(r, f, warnings)
    if not -1000 <= r["OomScoreAdj"] <= 1000:
        raise errors.BadParameter(f"Invalid value {r['OomScoreAdj']}, range for oom score adj is [-1000, 1000]")
    if not update:   # dockerd's adaptContainerSettings
        if r["Memory"] > 0 and r["MemorySwap"] == 0:
            r["MemorySwap"] = 2 * r["Memory"]
        if r["OomKillDisable"] is None:
            r["OomKillDisable"] = False
        if r["PidsLimit"] is not None and r["PidsLimit"] <= 0:
            r["PidsLimit"] = None
        for key in OMITTED_WHEN_ZERO:
            if not r[key]:
                del r[key]
        for key in DEVICE_LISTS:   # not given: shown as Docker shows it (spec.host's defaults)
            if r[key] is None:
                del r[key]
    return r, warnings


def _devices(host: dict, field: str, key: str, value: str) -> list[dict]:
    """HostConfig[field]'s devices as OCI's: their numbers now, and each one's `value` as `key`."""
    out = []
    for number, entry in enumerate(host.get(field) or []):
        major, minor = block_device(entry["Path"], f"HostConfig.{field}[{number}]")
        out.append({"major": major, "minor": minor, key: entry.get(value) or 0})   # a record's from before it was 0
    return out


def oci(host: dict) -> dict:
    """The OCI linux.resources of a record's HostConfig, as dockerd's spec has them (devices
    aside). A block device named that is gone is a BadParameter."""
    memory = {key: host[field] for key, field in (("limit", "Memory"), ("reservation", "MemoryReservation"),
                                                  ("kernel", "KernelMemory"), ("kernelTCP", "KernelMemoryTCP"))
              if (host.get(field) or 0) > 0}
    if (host.get("MemorySwap") or 0) > 0:
        memory["swap"] = host["MemorySwap"]
    elif memory.get("limit") and not host.get("MemorySwap"):   # a record older than its default
        memory["swap"] = 2 * memory["limit"]
    if host.get("MemorySwappiness") is not None:
        memory["swappiness"] = host["MemorySwappiness"]
    if host.get("OomKillDisable") is not None:
        memory["disableOOMKiller"] = bool(host["OomKillDisable"])
    cpu: dict = {}
    if (host.get("CpuShares") or 0) > 0:
        cpu["shares"] = host["CpuShares"]
    for key, field in (("cpus", "CpusetCpus"), ("mems", "CpusetMems")):
        if host.get(field):
            cpu[key] = host[field]
    if (host.get("NanoCpus") or 0) > 0:
        cpu.update(period=CFS_PERIOD, quota=host["NanoCpus"] * CFS_PERIOD // 10**9)
    for key, field in (("period", "CpuPeriod"), ("quota", "CpuQuota"), ("realtimePeriod", "CpuRealtimePeriod"),
                       ("realtimeRuntime", "CpuRealtimeRuntime")):
        if host.get(field):
            cpu[key] = host[field]
    out: dict = {}
    if memory:
        out["memory"] = memory
    if cpu:
        out["cpu"] = cpu
    if host.get("PidsLimit") is not None:   # 0 or below: none, which runc writes as -1
        out["pids"] = {"limit": host["PidsLimit"] if host["PidsLimit"] > 0 else -1}
    block = {"weight": host.get("BlkioWeight") or 0}
    if host.get("BlkioWeightDevice"):
        block["weightDevice"] = _devices(host, "BlkioWeightDevice", "weight", "Weight")
    for field, key in OCI_THROTTLES.items():
        if host.get(field):
            block[key] = _devices(host, field, "rate", "Rate")
    out["blockIO"] = block
    return out
