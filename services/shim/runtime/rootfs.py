"""The container's root: its mount sequence, from a private / to pivot_root into the rootfs.

`enter()` runs in the container's init, in its own new mount namespace: / made
private (nothing propagates back to the host), the overlay mounted on the bundle's
rootfs, the bundle's mounts and device nodes made inside it, pivot_root into it (the
old root detached), Docker's masked and read-only paths, and / read-only last if the
bundle asks. Mount targets are reached with the same no-symlink walk as layer
extraction, so an image cannot aim a mount outside its rootfs; so is a volume's Subpath,
from the volume's root, and the bind made from the fd the walk reached, so no container
sharing the volume can aim it outside the volume.

Every mount, the pivot and each device node go through the `Syscalls` given (a
recording fake in the unit test); directory and file work stays with os, on fds of
the rootfs, so the test runs it for real on a temporary directory.
"""

from __future__ import annotations

import errno
import os
import stat

from services.common import pathwalk
from services.common.wire import schema
from services.kernel.syscalls import (
    MNT_DETACH, MOUNT_ATTR_RDONLY, MS_BIND, MS_DIRSYNC, MS_MANDLOCK, MS_NOATIME, MS_NODEV, MS_NODIRATIME,
    MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_RELATIME, MS_REMOUNT, MS_SHARED, MS_SLAVE,
    MS_STRICTATIME, MS_SYNCHRONOUS, SYS, Syscalls,
)

from . import copyup, shared_shm
from .base import StartError

DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
           ("urandom", 1, 9), ("tty", 5, 0))
DEV_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
             ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"))
# /dev/core only where the kernel has a /proc/kcore to point it at (as runc makes it).
KCORE_LINK = ("core", "/proc/kcore")

MOUNT_FLAGS = {
    "ro": MS_RDONLY, "nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "bind": MS_BIND,
    "rbind": MS_BIND | MS_REC, "strictatime": MS_STRICTATIME, "sync": MS_SYNCHRONOUS, "dirsync": MS_DIRSYNC,
    "mand": MS_MANDLOCK, "noatime": MS_NOATIME, "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME,
}
# The flags' opposites (a flag left out is cleared already), and what needs nothing here.
IGNORED_OPTIONS = {"rw", "private", "rprivate", "dev", "suid", "exec", "async", "nomand", "atime", "diratime",
                   "norelatime", "nostrictatime", "defaults"}
# A bind mount's propagation, set once it is made (rprivate, the default, needs nothing).
PROPAGATION = {"private": MS_PRIVATE, "shared": MS_SHARED, "rshared": MS_SHARED | MS_REC, "slave": MS_SLAVE,
               "rslave": MS_SLAVE | MS_REC}
RECURSIVE_RO = "rro"   # read-only, and every mount below it too (mount_setattr)


def enter(rootfs: str, config: dict, overlay: dict, kernel: Syscalls = SYS) -> None:
    """Mount the container's root at `rootfs` and everything in it, and make it this
    process's / (and its working directory)."""
    linux = config["linux"]
    donor = shared_shm.donor(config)
    shm = shared_shm.clone(donor, kernel) if donor else None
    # Private, unless a bind asks for the host's mounts to reach it (rslave, rshared): then
    # everything receives the host's, and none of the container's reach the host.
    kernel.mount(None, "/", None, MS_REC | (MS_SLAVE if linux.get("rootfsPropagation") else MS_PRIVATE))
    kernel.mount("overlay", rootfs, "overlay", 0,
                 f"lowerdir={overlay['lower']},upperdir={overlay['upper']},workdir={overlay['work']}")
    root_fd = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        copyup.fill(root_fd, config)
        for m in config.get("mounts", []):
            mount(root_fd, m, kernel, shm if m["destination"] == shared_shm.DEV_SHM else None)
        devices(root_fd, linux.get("devices") or [], kernel)
    finally:
        os.close(root_fd)
        if shm is not None:
            os.close(shm)
    os.chdir(rootfs)
    kernel.pivot_root(".", ".")
    kernel.umount2(".", MNT_DETACH)
    os.chdir("/")
    sysctls(linux.get("sysctl") or {})
    mask(linux.get("maskedPaths") or [], linux.get("readonlyPaths") or [], kernel)
    if config["root"].get("readonly"):
        kernel.mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY)


def open_target(root_fd: int, dest: str, is_file: bool) -> int:
    """An O_PATH fd of the mount point `dest` inside the rootfs, made if missing."""
    parts = pathwalk.clean(dest)
    if not parts:
        return os.open(".", os.O_PATH | os.O_DIRECTORY, dir_fd=root_fd)
    parent = pathwalk.open_dir(root_fd, parts[:-1], True, dest)
    try:
        name = parts[-1]
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                raise StartError(f"mount point {dest} is a symlink in the image")
        except FileNotFoundError:
            if is_file:
                os.close(os.open(name, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW, 0o644, dir_fd=parent))
            else:
                os.mkdir(name, 0o755, dir_fd=parent)
        return os.open(name, os.O_PATH | os.O_NOFOLLOW, dir_fd=parent)
    finally:
        os.close(parent)


def mount(root_fd: int, m: dict, kernel: Syscalls = SYS, tree: int | None = None) -> None:
    """One of the bundle's mounts, onto its destination inside the rootfs (`tree`: a detached
    mount to attach there instead of its source, shared_shm's)."""
    flags, data, propagation, recursive_ro = 0, [], 0, False
    for option in m.get("options") or []:
        if option in MOUNT_FLAGS:
            flags |= MOUNT_FLAGS[option]
        elif option in PROPAGATION:
            propagation = PROPAGATION[option]
        elif option == RECURSIVE_RO:
            recursive_ro = True
        elif option not in IGNORED_OPTIONS:
            data.append(option)
    kind = m.get("type") or ("bind" if flags & MS_BIND else "none")
    bind = bool(flags & MS_BIND) or kind == "bind"
    source_fd = open_subpath(m) if bind and m.get(schema.MOUNT_SUBPATH) else None
    if source_fd is not None:
        source = f"/proc/self/fd/{source_fd}"   # what the walk reached, whatever the path is now
        is_file = not stat.S_ISDIR(os.fstat(source_fd).st_mode)
    else:
        source = m.get("source") or kind
        is_file = bind and os.path.exists(source) and not os.path.isdir(source)
    try:
        fd = open_target(root_fd, m["destination"], is_file and tree is None)
    except BaseException:
        if source_fd is not None:
            os.close(source_fd)
        raise
    try:
        target = f"/proc/self/fd/{fd}"
        if tree is not None:
            kernel.move_mount(tree, target)
        elif bind:
            kernel.mount(source, target, None, MS_BIND | (flags & MS_REC))
            if flags & ~(MS_BIND | MS_REC) or propagation or recursive_ro:
                # The fd still names what lies under the new mount: look the path up again.
                top = open_target(root_fd, m["destination"], is_file)
                try:
                    on_top = f"/proc/self/fd/{top}"
                    if flags & ~(MS_BIND | MS_REC):
                        kernel.mount(None, on_top, None, MS_REMOUNT | MS_BIND | (flags & ~MS_REC))
                    if recursive_ro:
                        kernel.mount_setattr(on_top, MOUNT_ATTR_RDONLY, recursive=True)
                    if propagation:
                        kernel.mount(None, on_top, None, propagation)
                finally:
                    os.close(top)
        else:
            kernel.mount(source, target, kind, flags, ",".join(data) or None)
    finally:
        os.close(fd)
        if source_fd is not None:
            os.close(source_fd)


def open_subpath(m: dict) -> int:
    """An O_PATH fd of what a bind mount's subpath (a volume's Subpath) names below its source,
    walked now from the source, following no symlink: a container sharing the volume may have
    swapped a part of it for a symlink since the supervisor checked it."""
    subpath = m[schema.MOUNT_SUBPATH]
    try:
        return pathwalk.open_beneath(m["source"], subpath)
    except pathwalk.LayerError as exc:
        raise StartError(f"mounting {m['destination']}: {exc.message}") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StartError(f"mounting {m['destination']}: subpath {subpath!r} goes through a symlink "
                             f"({exc.filename})") from None
        raise StartError(f"cannot access path {exc.filename}: {(exc.strerror or str(exc)).lower()}") from None


def sysctls(settings: dict) -> None:
    """The bundle's linux.sysctl, written in the container's own /proc/sys (run after
    pivot_root, before /proc/sys is made read-only)."""
    for key, value in settings.items():
        parts = key.replace(".", "/").split("/")
        if not key or any(p in ("", ".", "..") for p in parts):
            raise StartError(f"invalid sysctl {key!r}")
        try:
            with open(os.path.join("/proc/sys", *parts), "w") as fh:
                fh.write(value)
        except OSError as exc:
            raise StartError(f"setting sysctl {key}={value}: {exc.strerror}") from None


def mask(masked: list[str], readonly: list[str], kernel: Syscalls = SYS) -> None:
    """Hide the masked paths (files behind /dev/null, directories behind an empty read-only
    tmpfs) and make the read-only ones so; run inside the container, after pivot_root."""
    null = kernel.lstat("/dev/null")
    if not stat.S_ISCHR(null.st_mode) or null.st_rdev != os.makedev(1, 3):
        raise StartError("/dev/null in the container is not the null device")
    for path in masked:
        try:
            st = kernel.lstat(path)
        except (FileNotFoundError, PermissionError):
            continue
        if stat.S_ISDIR(st.st_mode):
            kernel.mount("tmpfs", path, "tmpfs", MS_RDONLY, None)
        else:
            kernel.mount("/dev/null", path, None, MS_BIND)
    for path in readonly:
        try:
            kernel.lstat(path)
        except OSError:
            continue
        kernel.mount(path, path, None, MS_BIND | MS_REC)
        kernel.mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)


def devices(root_fd: int, extra: list[dict], kernel: Syscalls = SYS) -> None:
    """The spec's linux.devices, then the default nodes in /dev (a node already there, say
    a default one that privileged mode lists again, is left as it is)."""
    for device in extra:
        parts = pathwalk.clean(device["path"])
        kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK}[device["type"]]
        parent = pathwalk.open_dir(root_fd, parts[:-1], True, device["path"])
        try:
            mode = device.get("fileMode", 0o666) & 0o7777
            kernel.make_node(parts[-1], kind | mode, os.makedev(device["major"], device["minor"]), dir_fd=parent)
            kernel.chown(parts[-1], device.get("uid", 0), device.get("gid", 0), dir_fd=parent)
        except FileExistsError:
            pass
        finally:
            os.close(parent)
    dev = pathwalk.open_dir(root_fd, ["dev"], True, "/dev")
    try:
        for name, major, minor in DEVICES:
            try:
                kernel.make_node(name, stat.S_IFCHR | 0o666, os.makedev(major, minor), dir_fd=dev)
            except FileExistsError:
                pass
        links = DEV_LINKS + ((KCORE_LINK,) if os.path.exists(KCORE_LINK[1]) else ())
        for name, target in links:
            try:
                os.symlink(target, name, dir_fd=dev)
            except FileExistsError:
                pass
    finally:
        os.close(dev)
