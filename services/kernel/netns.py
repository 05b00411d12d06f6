"""Named network namespaces: each held by an nsfs bind mount on a file, as `ip netns` keeps them.

The supervisor makes a container's network namespace first, as a handle
`<exec-root>/netns/<name>` it can wire and other containers can join; the
namespace lives as long as that mount, whatever processes come and go in it.
"""

from __future__ import annotations

import errno
import os
import threading
from typing import Any, Callable

from .syscalls import CLONE_NEWNET, MNT_DETACH, MS_BIND, SYS, Syscalls


def path(directory: str, name: str) -> str:
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"{name!r} cannot name a network namespace")
    return os.path.join(directory, name)


def _in_thread(function: Callable[[], Any]) -> Any:
    """Run `function` in a thread of its own that ends with it: a thread that unshares or
    enters a network namespace stays there, and no other thread may inherit that."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = function()
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="netns")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def create(directory: str, name: str, kernel: Syscalls = SYS) -> str:
    """Make the network namespace `name` (only its loopback link, down) and its handle in
    `directory`; the handle's path. FileExistsError if the name is taken."""
    handle = path(directory, name)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.close(os.open(handle, os.O_CREAT | os.O_EXCL | os.O_RDONLY | os.O_CLOEXEC, 0o444))

    def make() -> None:
        kernel.unshare(CLONE_NEWNET)  # this thread only
        kernel.mount(f"/proc/self/task/{threading.get_native_id()}/ns/net", handle, None, MS_BIND)

    try:
        _in_thread(make)
    except BaseException:
        os.unlink(handle)
        raise
    return handle


def enter(handle: str, kernel: Syscalls = SYS) -> None:
    """Move the calling thread into the namespace of `handle` (setns)."""
    fd = os.open(handle, os.O_RDONLY | os.O_CLOEXEC)
    try:
        kernel.setns(fd, CLONE_NEWNET)
    finally:
        os.close(fd)


def run_in(handle: str, function: Callable[[], Any], kernel: Syscalls = SYS) -> Any:
    """`function()` run in the namespace of `handle` (by a short-lived thread), as
    `ip netns exec` runs a command; what it returns or raises."""
    def entered() -> Any:
        enter(handle, kernel)
        return function()
    return _in_thread(entered)


def remove(handle: str, kernel: Syscalls = SYS) -> None:
    """Unmount and delete the handle (the namespace goes when nothing else holds it);
    nothing to do for a handle already gone."""
    try:
        kernel.umount2(handle, MNT_DETACH)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOENT):  # EINVAL: not mounted (a half-made one)
            raise
    try:
        os.unlink(handle)
    except FileNotFoundError:
        pass
