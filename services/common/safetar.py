"""Safe tar handling: extracting image layers (and build contexts) exactly, never outside
their root, and writing trees as tar streams, never following a symlink in them.

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


def _xattr_headers(path: str) -> dict:
    headers = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return headers
    for attr in names:
        if attr.startswith(XATTR_PREFIXES):
            try:
                value = os.getxattr(path, attr, follow_symlinks=False)
            except OSError:
                continue
            headers[f"SCHILY.xattr.{attr}"] = value.decode("utf-8", "surrogateescape")
    return headers


def write_tree(root: str, fileobj: BinaryIO, overlay_whiteouts: bool = False) -> None:
    """Write the tree at `root` as a tar stream, never following a symlink in it.

    With `overlay_whiteouts`, the tree is an overlayfs upper dir: its whiteouts (0/0
    character devices) become `.wh.` entries and its opaque directories get a
    `.wh..wh..opq` entry, as in an image layer.
    """
    tf = tarfile.open(fileobj=fileobj, mode="w|", format=tarfile.PAX_FORMAT)
    links: dict[tuple[int, int], str] = {}
    root_fd = os.open(root, _DIR_FLAGS)

    def walk(dir_fd: int, prefix: str) -> None:
        with os.scandir(dir_fd) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            st = entry.stat(follow_symlinks=False)
            name = prefix + entry.name
            proc_path = f"/proc/self/fd/{dir_fd}/{entry.name}"
            if overlay_whiteouts and stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                info = tarfile.TarInfo(prefix + WHITEOUT_PREFIX + entry.name)
                info.mtime = int(st.st_mtime)
                tf.addfile(info)
                continue
            info = tarfile.TarInfo(name)
            info.uid, info.gid = st.st_uid, st.st_gid
            info.mode = stat.S_IMODE(st.st_mode)
            info.mtime = int(st.st_mtime)
            info.pax_headers = _xattr_headers(proc_path)
            if stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
                sub = os.open(entry.name, _DIR_FLAGS, dir_fd=dir_fd)
                try:
                    if overlay_whiteouts:
                        try:
                            opaque = os.getxattr(sub, OVERLAY_OPAQUE_XATTR) == b"y"
                        except OSError:
                            opaque = False
                        if opaque:
                            marker = tarfile.TarInfo(name + "/" + WHITEOUT_OPAQUE)
                            marker.mtime = int(st.st_mtime)
                            tf.addfile(marker)
                    walk(sub, name + "/")
                finally:
                    os.close(sub)
            elif stat.S_ISREG(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in links:
                    info.type, info.linkname = tarfile.LNKTYPE, links[key]
                    tf.addfile(info)
                    continue
                links[key] = name
                fd = os.open(entry.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
                with os.fdopen(fd, "rb") as src:
                    info.size = os.fstat(src.fileno()).st_size
                    tf.addfile(info, src)
            elif stat.S_ISLNK(st.st_mode):
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(entry.name, dir_fd=dir_fd)
                tf.addfile(info)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
                tf.addfile(info)
            elif stat.S_ISFIFO(st.st_mode):
                info.type = tarfile.FIFOTYPE
                tf.addfile(info)
            # sockets are not archived, as in Docker

    try:
        walk(root_fd, "")
    finally:
        os.close(root_fd)
    tf.close()
