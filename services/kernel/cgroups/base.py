"""The cgroup interface every hierarchy implements, and what the implementations share."""

from __future__ import annotations

import errno
import os
import signal
import time
from dataclasses import dataclass

ROOT = "/sys/fs/cgroup"


def is_v2(root: str = ROOT) -> bool:
    """Whether `root` holds the unified (v2) hierarchy: the one test of the host's cgroup version."""
    return os.path.exists(os.path.join(root, "cgroup.controllers"))


def write(path: str, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


def read(path: str) -> str:
    """The file's text, or "" if it cannot be read (a controller the host lacks, a cgroup gone)."""
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return ""


def read_int(path: str) -> int | None:
    text = read(path).strip()
    return int(text) if text.isdigit() else None


@dataclass
class Stats:
    """What a cgroup's processes use now; None where the host does not count it."""
    memory_usage: int | None   # bytes
    memory_limit: int | None   # bytes; None also when there is no limit
    cpu_usage: int | None      # nanoseconds of CPU time, all processes ever in it
    pids: int | None           # processes and threads in it now


class Cgroup:
    """A container's cgroup `path` ("dockyard/<id>") below `root`, the mount of the hierarchy.

    `Cgroup(path)` makes the implementation for the host (v2.V2 where the unified
    hierarchy is at `root`, else v1.V1), as pathlib.Path does for its flavours."""

    version = 0

    def __new__(cls, path: str, root: str = ROOT):
        if cls is Cgroup:
            from .v1 import V1
            from .v2 import V2
            cls = V2 if is_v2(root) else V1
        return super().__new__(cls)

    def __init__(self, path: str, root: str = ROOT):
        self.path = path.strip("/")
        self.root = root

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r}, root={self.root!r})"

    # What each hierarchy does its own way.

    def dirs(self) -> list[str]:
        """Its directories, one per hierarchy it is in (those that exist on this host)."""
        raise NotImplementedError

    def create(self, resources: dict | None = None, devices: list | None = None) -> None:
        """Make the cgroup and set its limits (an OCI linux.resources, its devices aside:
        see limits) and device rules (services.kernel.devices Rules), before any process
        joins it. OSError, naming the file, for a limit the kernel refuses."""
        raise NotImplementedError

    def update(self, resources: dict) -> None:
        """Change the limits `resources` names (an OCI linux.resources) of the cgroup as it
        is, its processes in it; what it does not name stays. OSError, naming the file, for
        a limit the kernel refuses (a memory limit below what it cannot reclaim...)."""
        raise NotImplementedError

    def oom_killed(self) -> bool:
        """Whether the kernel has killed a process of it for want of memory."""
        raise NotImplementedError

    def freeze(self, timeout: float = 5.0) -> None:
        """Stop every process in it, and return once they are; TimeoutError (thawed again)
        if they are not within `timeout` seconds."""
        raise NotImplementedError

    def thaw(self) -> None:
        raise NotImplementedError

    def frozen(self) -> bool:
        raise NotImplementedError

    def stats(self) -> Stats:
        raise NotImplementedError

    # What is the same in both.

    def add(self, pid: int) -> None:
        for d in self.dirs():
            if os.path.isdir(d):
                write(os.path.join(d, "cgroup.procs"), str(pid))

    def pids(self) -> list[int]:
        dirs = self.dirs()
        return [int(p) for p in read(os.path.join(dirs[0], "cgroup.procs")).split()] if dirs else []

    def destroy(self, timeout: float = 5.0) -> None:
        """Remove it, killing what is still in it; OSError if it is still busy after `timeout`."""
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
                    for pid in [int(p) for p in read(os.path.join(d, "cgroup.procs")).split()]:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                    time.sleep(0.02)
