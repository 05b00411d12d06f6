"""What a container changed in its filesystem, read from its overlay upper dir, as
`docker diff` reports it (moby's archive.OverlayChanges over a container's layers).

Docker puts an init layer between the image and the container's own layer, holding the
mount points every container gets (/etc/hosts, /etc/hostname, /etc/resolv.conf, /dev,
/proc, /sys); so its diff never shows them. Dockyard's runtime makes the ones an image
lacks in the container's upper dir instead, and they are left out here in the same way:
the bind-mounted files while they are the empty files the runtime made, whatever lies
under the trees mounted over whole (nothing a container writes there reaches the upper
dir), and the change of a directory's time that making them caused.
"""

from __future__ import annotations

import os
import posixpath
import stat

from services.common import safetar

MODIFIED, ADDED, DELETED = 0, 1, 2

MOUNT_POINT_FILES = frozenset(("/etc/hosts", "/etc/hostname", "/etc/resolv.conf"))
MOUNTED_TREES = frozenset(("/dev", "/proc", "/sys"))
# The directories of Docker's init layer: there whatever the image has, so a container's
# own change of one is one of mode, or of what it holds (reported with that entry).
INIT_DIRS = frozenset(("/etc", "/dev", "/proc", "/sys"))
INIT_DIR_MODE = stat.S_IFDIR | 0o755


def _lower_stat(lowers_top_first: list[str], parts: list[str]) -> os.stat_result | None:
    """The path's lstat in the merged image (its layers), or None if the image lacks it:
    a whiteout or an opaque directory above hides what is below."""
    for layer in lowers_top_first:
        root_fd = os.open(layer, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            try:
                parent = safetar.open_dir(root_fd, parts[:-1], False, "/".join(parts))
            except safetar.LayerError:
                continue
            try:
                try:
                    st = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
                except FileNotFoundError:
                    if _opaque(parent):
                        return None
                    continue
                return None if _whiteout(st) else st
            finally:
                os.close(parent)
        finally:
            os.close(root_fd)
    return None


def _whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _opaque(path_or_fd: str | int) -> bool:
    """Whether an overlay directory (a path, not followed if a link, or an fd) is opaque."""
    try:
        if isinstance(path_or_fd, int):
            return os.getxattr(path_or_fd, safetar.OVERLAY_OPAQUE_XATTR) == b"y"
        return os.getxattr(path_or_fd, safetar.OVERLAY_OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _same_time(a: int, b: int) -> bool:
    """Go's sameFsTime on nanosecond times: equal, or the same second where one of them has
    no fraction (a time that went through a tar header)."""
    return a == b or (a // 1_000_000_000 == b // 1_000_000_000
                      and (a % 1_000_000_000 == 0 or b % 1_000_000_000 == 0))


def _ordered(upper: str):
    """(absolute path, lstat, full path) of everything in `upper` in Go's filepath.Walk
    order (an entry, then what it holds, then its next sibling, names in byte order),
    nothing under the mounted trees."""
    stack: list[tuple[str, str]] = [("", upper)]
    while stack:
        rel, full = stack.pop()
        if rel:
            st = os.lstat(full)
            yield rel, st, full
            if not stat.S_ISDIR(st.st_mode) or rel in MOUNTED_TREES:
                continue
        with os.scandir(full) as it:
            names = sorted((e.name for e in it), key=os.fsencode, reverse=True)
        stack.extend((f"{rel}/{name}", os.path.join(full, name)) for name in names)


def changes(upper: str, lowers_top_first: list[str]) -> list[dict]:
    out: list[dict] = []
    changed_dirs: set[str] = set()
    for path, st, full in _ordered(upper):
        if path in MOUNT_POINT_FILES and stat.S_ISREG(st.st_mode) and st.st_size == 0:
            continue   # a mount point the runtime made
        is_dir = stat.S_ISDIR(st.st_mode)
        if _whiteout(st) or (is_dir and _opaque(full)):
            kind = DELETED   # as Docker's overlayDeletedFile: an opaque directory too
        else:
            kind = ADDED
            lower = _lower_stat(lowers_top_first, path.lstrip("/").split("/"))
            if path in INIT_DIRS:
                if is_dir and st.st_mode == (lower.st_mode if lower is not None else INIT_DIR_MODE):
                    continue   # only the runtime's mount points changed it
                kind = MODIFIED
            elif lower is not None:
                if (is_dir and stat.S_ISDIR(lower.st_mode) and st.st_size == lower.st_size
                        and st.st_mode == lower.st_mode and _same_time(st.st_mtime_ns, lower.st_mtime_ns)):
                    continue   # a parent copied up for what it holds: that entry says it
                kind = MODIFIED
        if is_dir:
            changed_dirs.add(path)
        if kind in (ADDED, DELETED):
            # What was added or deleted changed its directory, whatever that one's times say.
            parent = posixpath.dirname(path)
            if parent != "/" and parent not in changed_dirs:
                out.append({"path": parent, "kind": MODIFIED})
                changed_dirs.add(parent)
        out.append({"path": path, "kind": kind})
    return out
