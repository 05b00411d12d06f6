"""How a copy's helper enters a container's root, so that no path it later resolves (and no
symlink the container swaps in meanwhile) leads anywhere but into the container's files.

- A running container: the helper joins the mount namespace of the container's init
  (checked to be the same process the record names, by its start time), takes a private
  copy of it, checks that its root is the init's root and chroots there. The container's
  /proc and /sys are detached from the copy (they would show the helper's own, host,
  namespaces); the container keeps its own. The copy keeps the container's overlay mounted
  for as long as the helper lives, even once the container has stopped: the supervisor
  kills the helper before the overlay is mounted again (a start, a copy once stopped:
  supervisor.running_copies).
- A stopped container (created, exited): the helper makes a mount namespace of its own,
  mounts the container's overlay read-write on the bundle's rootfs directory, binds its
  volumes and bind mounts in as the runtime does (never following a symlink at a mount
  point), and chroots there. The supervisor holds the container's lifecycle lock
  meanwhile, so it cannot start on the same upper dir.

Either way every mount of the view is then made nodev and nosuid (in one call): a device
node the container planted where a file was cannot be opened by the helper. The view
dies with the helper; nothing is left mounted anywhere.

`seal()` closes the door behind: everything is imported before entering, and after it no
module can be imported from the container's files (only built-in and frozen ones).
"""

from __future__ import annotations

import errno
import importlib.machinery
import os
import sys
import warnings

from services.common import errors
from services.kernel.syscalls import (
    CLONE_NEWNS, MNT_DETACH, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOSUID, MS_BIND, MS_NODEV, MS_PRIVATE,
    MS_RDONLY, MS_REC, MS_REMOUNT, SYS, UMOUNT_NOFOLLOW,
)
from services.shim.runtime import rootfs
from services.shim.runtime.base import StartError

# File systems of a container's that its copy does not see (as in Docker's copy, which
# sees its rootfs and volumes only): their contents are the reader's namespaces, not its.
DETACHED_TYPES = ("proc", "sysfs")


class Gone(Exception):
    """The container's process is not there any more (it exited since its record was read)."""


def _start_time(proc_fd: int) -> int:
    with open(os.open("stat", os.O_RDONLY | os.O_CLOEXEC, dir_fd=proc_fd), "rb") as fh:
        return int(fh.read().rsplit(b")", 1)[1].split()[19])


def _unescape(field: str) -> str:
    """A mountinfo path: spaces, tabs, newlines and backslashes are written in octal."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def mounts(mountinfo: str) -> list[tuple[str, str]]:
    """(mount point, file system type) of each line of a mountinfo."""
    found = []
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        if "-" not in fields[6:]:
            continue
        dash = fields.index("-", 6)
        found.append((_unescape(fields[4]), fields[dash + 1]))
    return found


def _own_mounts(self_fd: int) -> list[tuple[str, str]]:
    with open(os.open("mountinfo", os.O_RDONLY | os.O_CLOEXEC, dir_fd=self_fd), encoding="utf-8",
              errors="surrogateescape") as fh:
        return mounts(fh.read())


def enter_running(pid: int, pid_start: int) -> None:
    """Enter (a private copy of) the mount namespace of the running container whose init is
    `pid` (started at `pid_start` clock ticks; <= 0: unknown), chrooted at its root."""
    self_fd = os.open("/proc/self", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            proc = os.open(f"/proc/{pid}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise Gone() from None
        try:
            if pid_start > 0 and _start_time(proc) != pid_start:
                raise Gone()  # another process has its pid now
            init_root = os.stat("root", dir_fd=proc)   # the init's root (followed: it is a magic link)
            ns = os.open("ns/mnt", os.O_RDONLY | os.O_CLOEXEC, dir_fd=proc)
        except (ProcessLookupError, FileNotFoundError):
            raise Gone() from None
        finally:
            os.close(proc)
        try:
            SYS.setns(ns, CLONE_NEWNS)
        finally:
            os.close(ns)
        SYS.unshare(CLONE_NEWNS)   # a copy of its own: what it detaches, the container keeps
        os.chdir("/")
        os.chroot(".")
        here = os.stat("/")
        if (here.st_dev, here.st_ino) != (init_root.st_dev, init_root.st_ino):
            raise errors.ServerError("the container's root is not the root of its mount namespace")
        SYS.mount(None, "/", None, MS_REC | MS_PRIVATE)
        for point, kind in _own_mounts(self_fd):
            if kind in DETACHED_TYPES:
                try:
                    SYS.umount2(point, MNT_DETACH | UMOUNT_NOFOLLOW)
                except OSError as exc:
                    if exc.errno not in (errno.EINVAL, errno.ENOENT):  # gone with its parent already
                        raise
    finally:
        os.close(self_fd)
    SYS.mount_setattr("/", MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID)


def enter_stopped(target: str, overlay: dict, binds: list[dict], readonly_rootfs: bool) -> None:
    """Mount the stopped container's root at `target` (its bundle's rootfs directory) in a
    mount namespace of this process's own, its `binds` (OCI mounts) in it, and chroot there."""
    SYS.unshare(CLONE_NEWNS)
    SYS.mount(None, "/", None, MS_REC | MS_PRIVATE)
    SYS.mount("overlay", target, "overlay", MS_NODEV,
              f"lowerdir={overlay['lower']},upperdir={overlay['upper']},workdir={overlay['work']}")
    root_fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for m in binds:
            try:
                rootfs.mount(root_fd, m)
            except StartError as exc:   # a mount point that is a symlink in the container
                raise errors.BadParameter(str(exc)) from None
        os.fchdir(root_fd)
    finally:
        os.close(root_fd)
    os.chroot(".")
    if readonly_rootfs:
        SYS.mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NODEV)
    SYS.mount_setattr("/", MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID)


def seal() -> None:
    """From here on nothing is imported from a file (the container's files are all there
    is): only the interpreter's built-in and frozen modules; no warning is printed (that
    would read source lines); every fd but stdio is closed."""
    sys.meta_path[:] = [importlib.machinery.BuiltinImporter, importlib.machinery.FrozenImporter]
    sys.path[:] = []
    sys.path_hooks[:] = []
    sys.path_importer_cache.clear()
    warnings.simplefilter("ignore")
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
