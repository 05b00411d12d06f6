"""Facts about the host the daemon reports in /info: kernel, OS, memory, cgroup features."""

from __future__ import annotations

import os
import platform

from services.kernel import cgroups

CGROUP_ROOT = cgroups.ROOT


def cgroup_version() -> str:
    """"2" when the unified hierarchy is mounted at the root, else "1"."""
    return "2" if cgroups.is_v2() else "1"


def cgroup_features() -> dict:
    """Which resource limits the host's cgroups can enforce."""
    if cgroup_version() == "2":
        try:
            with open(os.path.join(CGROUP_ROOT, "cgroup.controllers")) as fh:
                controllers = fh.read().split()
        except OSError:
            controllers = []
        memory = "memory" in controllers
        return {
            "memory_limit": memory,
            # memory.swap.max appears in child groups only when swap accounting is on.
            "swap_limit": memory and _any_child_has("memory.swap.max"),
            "cpu_shares": "cpu" in controllers,
            "pids_limit": "pids" in controllers,
            "oom_kill_disable": False,
        }
    memory_dir = os.path.join(CGROUP_ROOT, "memory")
    return {
        "memory_limit": os.path.exists(os.path.join(memory_dir, "memory.limit_in_bytes")),
        "swap_limit": os.path.exists(os.path.join(memory_dir, "memory.memsw.limit_in_bytes")),
        "cpu_shares": os.path.exists(os.path.join(CGROUP_ROOT, "cpu", "cpu.shares")),
        "pids_limit": os.path.exists(os.path.join(CGROUP_ROOT, "pids")),
        "oom_kill_disable": os.path.exists(os.path.join(memory_dir, "memory.oom_control")),
    }


def _any_child_has(name: str) -> bool:
    try:
        for entry in os.scandir(CGROUP_ROOT):
            if entry.is_dir() and os.path.exists(os.path.join(entry.path, name)):
                return True
    except OSError:
        pass
    return False


def mem_total() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def os_release() -> tuple[str, str]:
    """(PRETTY_NAME, VERSION_ID) of the host's /etc/os-release."""
    values: dict[str, str] = {}
    try:
        with open("/etc/os-release") as fh:
            for line in fh:
                key, _, value = line.strip().partition("=")
                values[key] = value.strip('"')
    except OSError:
        pass
    return values.get("PRETTY_NAME", "Linux"), values.get("VERSION_ID", "")


def architecture() -> str:
    return platform.machine()


def kernel_version() -> str:
    return platform.release()


# moby's fsmagic names of the filesystems a data root may be on ("extfs" for ext2/3/4).
_FS_NAMES = {"ext2": "extfs", "ext3": "extfs", "ext4": "extfs", "overlay": "overlayfs"}


def backing_filesystem(path: str) -> str:
    """The type of the filesystem `path` is on, as moby names it (/info's DriverStatus)."""
    best, fstype = "", "<unknown>"
    try:
        with open("/proc/self/mountinfo") as fh:
            for line in fh:
                fields = line.split()
                point = fields[4].replace("\\040", " ")
                rest = fields[fields.index("-") + 1:]
                inside = path == point or path.startswith(point.rstrip("/") + "/")
                if inside and len(point) >= len(best) and rest:
                    best, fstype = point, rest[0]
    except (OSError, ValueError, IndexError):
        pass
    return _FS_NAMES.get(fstype, fstype)
