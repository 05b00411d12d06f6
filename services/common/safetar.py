"""Safe tar handling: extracting image layers (and build contexts, and archives copied into
containers) exactly, never outside their root, and writing trees (`write_tree`) or one path
of a tree rebased to a name (`write_path`, docker cp's) as tar streams, one walk for both,
never following a symlink in them.

tarfile's extraction (and its filters, bypassed repeatedly) is never used. The one
extractor lives in untar.py, re-exported here (import it from here): every entry's path
is cleaned lexically and one that climbs out of the root is refused; parent directories
are walked one component at a time from an fd of the root with O_NOFOLLOW, so no symlink
(whatever an earlier entry planted) is ever followed; the entry is then made relative to
its parent's fd. Hardlinks may only point at entries already extracted. In a layer,
whiteouts become overlayfs whiteouts (a 0/0 character device) and opaque directories
(trusted.overlay.opaque=y). What a build context does otherwise is said by its `Rules`.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
from typing import BinaryIO, Iterator

from . import pathwalk
from .pathwalk import LayerError, clean, open_dir  # noqa: F401  (one walk, shared with the runtime)
from .untar import (LAYER, OVERLAY_OPAQUE_XATTR, WHITEOUT_META, WHITEOUT_OPAQUE,  # noqa: F401
                    WHITEOUT_PREFIX, XATTR_PREFIXES, Rules, extract, lstat_at, remove_at)

_DIR_FLAGS = pathwalk.DIR_FLAGS


def extract_layer(stream: BinaryIO, root: str) -> int:
    """Extract the plain tar `stream` into the empty directory `root`; return its file bytes.

    A seekable file is read in place; anything else is read as a stream (tarfile reads
    those 10 KiB at a time, at half the speed)."""
    return extract(stream, root, LAYER)


def iter_tree(root: str) -> Iterator[tuple[str, os.stat_result]]:
    """(relative path, lstat) of everything under root, parents first, in name order."""
    stack = [""]
    while stack:
        rel = stack.pop()
        full = os.path.join(root, rel) if rel else root
        with os.scandir(full) as it:
            entries = sorted(it, key=lambda e: e.name)
        subdirs = []
        for entry in entries:
            path = f"{rel}/{entry.name}" if rel else entry.name
            st = entry.stat(follow_symlinks=False)
            yield path, st
            if stat.S_ISDIR(st.st_mode):
                subdirs.append(path)
        stack.extend(reversed(subdirs))


def _xattr_headers(target: str | int) -> dict:
    """The xattrs an entry carries, of an open fd or of a path (never followed)."""
    headers = {}
    follow = {} if isinstance(target, int) else {"follow_symlinks": False}
    try:
        names = os.listxattr(target, **follow)
    except OSError:
        return headers
    for attr in names:
        if attr.startswith(XATTR_PREFIXES):
            try:
                value = os.getxattr(target, attr, **follow)
            except OSError:
                continue
            headers[f"SCHILY.xattr.{attr}"] = value.decode("utf-8", "surrogateescape")
    return headers


# What opening (or reading the link of) an entry listed a moment ago says when a live tree
# changed since: it is gone, or no longer of its kind (a symlink, a socket now).
_CHANGED = (errno.ENOENT, errno.ELOOP, errno.ENOTDIR, errno.ENXIO, errno.EINVAL)


def _open_listed(name: str, flags: int, dir_fd: int) -> int | None:
    """An fd of the entry `name` just listed; None if it changed since."""
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in _CHANGED:
            return None
        raise


class _TreeWriter:
    """Entries of a tree, written to one tar stream without ever following a symlink in it.

    A file of several links is written whole under its first name, then as hardlinks to
    it. A regular file is opened without blocking (a fifo swapped in for it since the
    listing is skipped, not waited on); what is read is what fstat of the open file says."""

    def __init__(self, fileobj: BinaryIO, overlay_whiteouts: bool):
        self.tf = tarfile.open(fileobj=fileobj, mode="w|", format=tarfile.PAX_FORMAT)
        self.overlay_whiteouts = overlay_whiteouts
        self.links: dict[tuple[int, int], str] = {}

    def walk(self, dir_fd: int, prefix: str) -> None:
        """Everything in the directory `dir_fd`, named `prefix` + its name, in name order."""
        with os.scandir(dir_fd) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed since the listing (a live container's tree)
            self.add(dir_fd, entry.name, prefix + entry.name, st)

    def add(self, dir_fd: int, name: str, archive_name: str, st: os.stat_result) -> None:
        """The entry `name` of the directory `dir_fd` (whose lstat is `st`) as `archive_name`,
        and, a directory, what it holds below it."""
        tf = self.tf
        if self.overlay_whiteouts and stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            parent, _, base = archive_name.rpartition("/")
            info = tarfile.TarInfo(f"{parent}/{WHITEOUT_PREFIX}{base}" if parent else WHITEOUT_PREFIX + base)
            info.mtime = int(st.st_mtime)
            tf.addfile(info)
            return
        info = tarfile.TarInfo(archive_name)
        info.uid, info.gid = st.st_uid, st.st_gid
        info.mode = stat.S_IMODE(st.st_mode)
        info.mtime = int(st.st_mtime)
        if stat.S_ISDIR(st.st_mode):
            sub = _open_listed(name, _DIR_FLAGS, dir_fd)
            if sub is None:
                return
            try:
                info.type = tarfile.DIRTYPE
                info.pax_headers = _xattr_headers(sub)
                tf.addfile(info)
                if self.overlay_whiteouts:
                    try:
                        opaque = os.getxattr(sub, OVERLAY_OPAQUE_XATTR) == b"y"
                    except OSError:
                        opaque = False
                    if opaque:
                        marker = tarfile.TarInfo(archive_name + "/" + WHITEOUT_OPAQUE)
                        marker.mtime = int(st.st_mtime)
                        tf.addfile(marker)
                self.walk(sub, archive_name.rstrip("/") + "/" if archive_name else "/")
            finally:
                os.close(sub)
        elif stat.S_ISREG(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in self.links:
                info.type, info.linkname = tarfile.LNKTYPE, self.links[key]
                tf.addfile(info)
                return
            fd = _open_listed(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd)
            if fd is None:
                return
            with os.fdopen(fd, "rb") as src:
                now = os.fstat(fd)
                if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != key:
                    return  # replaced since it was listed: what is there now is not this entry
                self.links[key] = archive_name
                info.size = now.st_size
                info.pax_headers = _xattr_headers(fd)
                tf.addfile(info, src)
        else:
            info.pax_headers = _xattr_headers(f"/proc/self/fd/{dir_fd}/{name}")
            if stat.S_ISLNK(st.st_mode):
                try:
                    info.type, info.linkname = tarfile.SYMTYPE, os.readlink(name, dir_fd=dir_fd)
                except OSError as exc:
                    if exc.errno in _CHANGED:
                        return
                    raise
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            elif stat.S_ISFIFO(st.st_mode):
                info.type = tarfile.FIFOTYPE
            else:
                return  # sockets are not archived, as in Docker
            tf.addfile(info)

    def close(self) -> None:
        self.tf.close()


def write_tree(root: str, fileobj: BinaryIO, overlay_whiteouts: bool = False) -> None:
    """Write the tree at `root` as a tar stream, never following a symlink in it.

    With `overlay_whiteouts`, the tree is an overlayfs upper dir: its whiteouts (0/0
    character devices) become `.wh.` entries and its opaque directories get a
    `.wh..wh..opq` entry, as in an image layer.
    """
    writer = _TreeWriter(fileobj, overlay_whiteouts)
    root_fd = os.open(root, _DIR_FLAGS)
    try:
        writer.walk(root_fd, "")
    finally:
        os.close(root_fd)
    writer.close()


def write_path(dir_fd: int, name: str, fileobj: BinaryIO, archive_name: str) -> None:
    """Write one entry of the directory `dir_fd` (a file, a directory with everything in it,
    a symlink: `name` itself is never followed; "." is the directory itself) as a tar
    stream, its name (and the first component of everything below it) `archive_name`, as
    Docker's archive of a path rebases it. "" names the root entry "/" and what is below
    it "/x", as Docker's archive of "/" does."""
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    writer = _TreeWriter(fileobj, False)
    writer.add(dir_fd, name, archive_name, st)
    writer.close()
