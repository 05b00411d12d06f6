"""Mounts as mount(8) and moby/sys/mount make them from an fstab-style option string: the
string read into mount flags and the filesystem's own data, the mount made (a propagation
change and a bind's read-only applied by the calls after it, as the kernel wants), a lazy
unmount, and which paths are mount points (/proc/self/mountinfo). The local volume driver's
`type`, `device` and `o` options are mounted with it.
"""

from __future__ import annotations

import errno
import os
import re

from .syscalls import (
    MNT_DETACH, MS_BIND, MS_DIRSYNC, MS_MANDLOCK, MS_NOATIME, MS_NODEV, MS_NODIRATIME, MS_NOEXEC, MS_NOSUID,
    MS_PRIVATE, MS_RDONLY, MS_REC, MS_RELATIME, MS_REMOUNT, MS_SHARED, MS_SLAVE, MS_STRICTATIME, MS_SYNCHRONOUS,
    MS_UNBINDABLE, SYS, Syscalls,
)

# option -> (whether it clears the flag, the flag), as moby/sys/mount's table.
FLAGS = {
    "ro": (False, MS_RDONLY), "rw": (True, MS_RDONLY), "suid": (True, MS_NOSUID), "nosuid": (False, MS_NOSUID),
    "dev": (True, MS_NODEV), "nodev": (False, MS_NODEV), "exec": (True, MS_NOEXEC), "noexec": (False, MS_NOEXEC),
    "sync": (False, MS_SYNCHRONOUS), "async": (True, MS_SYNCHRONOUS), "dirsync": (False, MS_DIRSYNC),
    "remount": (False, MS_REMOUNT), "mand": (False, MS_MANDLOCK), "nomand": (True, MS_MANDLOCK),
    "atime": (True, MS_NOATIME), "noatime": (False, MS_NOATIME), "diratime": (True, MS_NODIRATIME),
    "nodiratime": (False, MS_NODIRATIME), "bind": (False, MS_BIND), "rbind": (False, MS_BIND | MS_REC),
    "unbindable": (False, MS_UNBINDABLE), "runbindable": (False, MS_UNBINDABLE | MS_REC),
    "private": (False, MS_PRIVATE), "rprivate": (False, MS_PRIVATE | MS_REC),
    "shared": (False, MS_SHARED), "rshared": (False, MS_SHARED | MS_REC),
    "slave": (False, MS_SLAVE), "rslave": (False, MS_SLAVE | MS_REC),
    "relatime": (False, MS_RELATIME), "norelatime": (True, MS_RELATIME),
    "strictatime": (False, MS_STRICTATIME), "nostrictatime": (True, MS_STRICTATIME),
}
PROPAGATION_TYPES = MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE
_MS_SILENT = 1 << 15
_MOUNTINFO_ESCAPE = re.compile(r"\\([0-7]{3})")


class MountError(Exception):
    """A mount the kernel refused, worded as moby's mountError: what, where, flags, data, why."""

    def __init__(self, op: str, source: str, target: str, flags: int, data: str, err: OSError):
        where = f"{source}:{target}" if source else target
        text = f"{op} {where}"
        if flags:
            text += f", flags: {flags:#x}"
        if data:
            text += f", data: {data}"
        reason = os.strerror(err.errno) if err.errno else str(err)
        super().__init__(f"{text}: {reason[:1].lower()}{reason[1:]}")
        self.errno = err.errno


def parse(options: str) -> tuple[int, str]:
    """mount(8)'s options as (flags, data): what the flag table lacks is the filesystem's data."""
    flags, data = 0, []
    for option in options.split(","):
        if option in FLAGS:
            clear, flag = FLAGS[option]
            flags = flags & ~flag if clear else flags | flag
        elif option != "defaults":
            data.append(option)
    return flags, ",".join(o for o in data if o)


def mount(device: str, target: str, fstype: str, options: str, kernel: Syscalls = SYS) -> None:
    """Mount `device` (of type `fstype`) on `target` with mount(8)'s `options` (moby's
    mount.Mount): the mount, then its propagation, then a bind's read-only by a remount."""
    flags, data = parse(options)
    plain = flags & ~PROPAGATION_TYPES
    remount = bool(flags & MS_REMOUNT) or device in ("", "none")
    if not remount or data:
        try:
            kernel.mount(device, target, fstype or None, plain, data or None)
        except OSError as exc:
            raise MountError("mount", device, target, plain, data, exc) from None
    if flags & PROPAGATION_TYPES:
        change = flags & (PROPAGATION_TYPES | MS_REC | _MS_SILENT)
        try:
            kernel.mount(None, target, None, change)
        except OSError as exc:
            raise MountError("remount", "", target, change, "", exc) from None
    if plain & (MS_BIND | MS_RDONLY) == MS_BIND | MS_RDONLY:
        try:
            kernel.mount(None, target, None, plain | MS_REMOUNT)
        except OSError as exc:
            raise MountError("remount-ro", "", target, plain | MS_REMOUNT, "", exc) from None


def unmount(target: str, kernel: Syscalls = SYS) -> None:
    """Detach the mount at `target` (lazily: what still uses it keeps it); none there is fine."""
    try:
        kernel.umount2(target, MNT_DETACH)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOENT):
            raise MountError("umount", "", target, MNT_DETACH, "", exc) from None


def mount_points(mountinfo: str | None = None) -> list[str]:
    """Every mount point of this mount namespace (or of the `mountinfo` text given), in order."""
    if mountinfo is None:
        with open("/proc/self/mountinfo") as fh:
            mountinfo = fh.read()
    out = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 4:
            out.append(_MOUNTINFO_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), fields[4]))
    return out


def mounted_at_or_below(path: str, mountinfo: str | None = None) -> list[str]:
    """The mount points at `path` or below it."""
    path = os.path.normpath(path)
    return [p for p in mount_points(mountinfo) if p == path or p.startswith(path.rstrip("/") + "/")]
