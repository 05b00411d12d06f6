"""Memory of processes from /proc: smaps_rollup per process, process trees, and who owns a
unix socket. What bench/memory.py sums; it reads, never changes, anything."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

# The smaps_rollup fields kept (kB in the file, bytes here).
FIELDS = ("Rss", "Pss", "Pss_Anon", "Pss_File", "Shared_Clean", "Shared_Dirty",
          "Private_Clean", "Private_Dirty", "Swap")


@dataclass
class Proc:
    pid: int
    ppid: int
    title: str                     # argv joined, as ps shows it (a service's setproctitle)
    mem: dict[str, int] = field(default_factory=dict)

    @property
    def private(self) -> int:
        return self.mem.get("Private_Clean", 0) + self.mem.get("Private_Dirty", 0)

    @property
    def shared(self) -> int:
        return self.mem.get("Shared_Clean", 0) + self.mem.get("Shared_Dirty", 0)


def rollup(pid: int) -> dict[str, int] | None:
    """/proc/<pid>/smaps_rollup in bytes, or None once the process is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            text = fh.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    mem = {}
    for line in text.splitlines()[1:]:
        key, _, rest = line.partition(":")
        if key in FIELDS:
            mem[key] = int(rest.split()[0]) * 1024
    return mem


def mergeable(pid: int) -> bool:
    """Whether any mapping of the process is marked for the kernel's same-page merging
    (VmFlags "mg" in /proc/<pid>/smaps)."""
    try:
        with open(f"/proc/{pid}/smaps") as fh:
            return any(line.startswith("VmFlags:") and " mg" in line for line in fh)
    except OSError:
        return False


def title(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            raw = fh.read()
    except OSError:
        return ""
    return raw.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")


def ppid_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as fh:
        stat = fh.read()
    return int(stat[stat.rindex(")") + 2:].split()[1])   # the name may hold spaces and ')'


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def parents() -> dict[int, int]:
    found = {}
    for pid in all_pids():
        try:
            found[pid] = ppid_of(pid)
        except OSError:
            pass
    return found


def with_descendants(roots: set[int], tree: dict[int, int] | None = None) -> set[int]:
    tree = parents() if tree is None else tree
    children: dict[int, list[int]] = {}
    for pid, ppid in tree.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), [p for p in roots if p in tree]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


def snapshot(pids: set[int]) -> list[Proc]:
    procs = []
    for pid in sorted(pids):
        mem = rollup(pid)
        if mem is None:
            continue
        try:
            procs.append(Proc(pid, ppid_of(pid), title(pid), mem))
        except OSError:
            pass
    return procs


def socket_owners(path: str) -> set[int]:
    """The pids that hold the listening unix socket bound at `path`."""
    inodes = set()
    with open("/proc/net/unix") as fh:
        next(fh)
        for line in fh:
            parts = line.split()
            if len(parts) >= 8 and parts[7] == path:
                inodes.add(parts[6])
    links = {f"socket:[{inode}]" for inode in inodes}
    owners = set()
    for pid in all_pids():
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in links:
                    owners.add(pid)
                    break
            except OSError:
                pass
    return owners


def named(names: tuple[str, ...]) -> set[int]:
    """The pids whose executable's base name (comm, or argv[0]) is one of `names`."""
    found = set()
    for pid in all_pids():
        try:
            with open(f"/proc/{pid}/comm") as fh:
                comm = fh.read().strip()
        except OSError:
            continue
        argv0 = os.path.basename(title(pid).split(" ", 1)[0])
        if comm in names or argv0 in names:
            found.add(pid)
    return found


def total(procs: list[Proc], key: str) -> int:
    return sum(p.mem.get(key, 0) for p in procs)
