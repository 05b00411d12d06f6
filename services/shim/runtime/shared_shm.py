"""IpcMode container:<id>: the other container's /dev/shm, cloned from its mount namespace.

A bind mount cannot take its source from another mount namespace by path (the kernel
refuses /proc/<pid>/root/dev/shm), so the caller steps into that container's mount
namespace for a moment, takes a detached copy of its /dev/shm (open_tree), and steps back
into its own, where the copy is attached (move_mount) as the container's /dev/shm. The
caller must be root and single-threaded: the container's init (built-in runtime), or the
shim before it runs runc.
"""

from __future__ import annotations

import os

from services.common.wire import schema
from services.kernel.syscalls import CLONE_NEWNS, SYS, Syscalls

from .base import StartError

DEV_SHM = "/dev/shm"


def donor(config: dict) -> int:
    """The pid of the container whose /dev/shm the bundle shares (0: none)."""
    value = (config.get("annotations") or {}).get(schema.ANNOTATION_SHM_OF) or "0"
    try:
        return int(value)
    except ValueError:
        raise StartError(f"config.json: {schema.ANNOTATION_SHM_OF} is not a pid: {value!r}") from None


def clone(pid: int, kernel: Syscalls = SYS) -> int:
    """An fd of a detached copy of the /dev/shm of the process `pid`'s mount namespace."""
    flags = os.O_RDONLY | os.O_CLOEXEC
    own, other = os.open("/proc/self/ns/mnt", flags), -1
    cwd = os.open(".", os.O_PATH | os.O_CLOEXEC)
    try:
        try:
            other = os.open(f"/proc/{pid}/ns/mnt", flags)
        except OSError as exc:
            raise StartError(f"cannot share the IPC of process {pid}: {exc.strerror}") from None
        kernel.setns(other, CLONE_NEWNS)
        try:
            return kernel.open_tree(DEV_SHM)
        finally:
            kernel.setns(own, CLONE_NEWNS)   # back: our root and working directory with it
            os.fchdir(cwd)
    finally:
        for fd in (own, other, cwd):
            if fd >= 0:
                os.close(fd)
