"""The services' lock: a file of the exec root every service of a running dockyardd holds
a shared lock on while it lives, so that a dockyardd started after the last one was
killed (kill -9) knows when all of that one's services are gone.

Each service takes it at its start (services.common.service.bootstrap), forked from
supervisord or exec'd alike, and the kernel lets go of it when the process ends, however
it ends. The shim zygote, forked from the supervisor, lets go of its copy at once: shims
outlive the daemon, and must not hold back the next one. A starting dockyardd waits until
it can take the lock exclusively (`wait_free`): then no service of an earlier one is left.
"""

from __future__ import annotations

import fcntl
import os
import time

FILE = "services.lock"
_POLL = 0.05

_held: int | None = None   # this process's descriptor of the lock, if it holds it


def path(exec_root: str) -> str:
    return os.path.join(exec_root, FILE)


def _open(exec_root: str) -> int:
    return os.open(path(exec_root), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def hold(exec_root: str) -> None:
    """Hold the lock (shared with the other services) until this process ends."""
    global _held
    if _held is not None:
        return
    fd = _open(exec_root)
    fcntl.flock(fd, fcntl.LOCK_SH)
    _held = fd


def let_go() -> None:
    """In a child forked from a service that is not one (the shim zygote): its copy of the
    lock's descriptor closed, so that it does not hold the lock."""
    global _held
    if _held is not None:
        os.close(_held)
        _held = None


def wait_free(exec_root: str, seconds: float) -> list[int]:
    """Wait up to `seconds` for no process to hold the lock: the pids that still hold it
    then ([]: none does)."""
    fd = _open(exec_root)
    deadline = time.monotonic() + seconds
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(fd, fcntl.LOCK_UN)
                return []
            except BlockingIOError:
                pass
            if time.monotonic() >= deadline:
                return holders(exec_root)
            time.sleep(_POLL)
    finally:
        os.close(fd)


def holders(exec_root: str) -> list[int]:
    """The processes that have the lock's file open (to name them in an error)."""
    try:
        target = os.stat(path(exec_root))
    except OSError:
        return []
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            fds = os.listdir(f"/proc/{name}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                st = os.stat(f"/proc/{name}/fd/{fd}")
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
                found.append(int(name))
                break
    return found
