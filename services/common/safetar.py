"""Safe tar handling: extracting image layers exactly, and never outside their root.

tarfile's extraction (and its filters, bypassed repeatedly) is never used. Every entry's
path is cleaned lexically; one that climbs out of the root is refused. Parent
directories are walked one component at a time from an fd of the root with
O_NOFOLLOW, so no symlink (whatever an earlier entry planted) is ever followed; the
entry is then made relative to its parent's fd. Hardlinks may only point at entries
already in this layer. Whiteouts become overlayfs whiteouts (a 0/0 character device)
and opaque directories (trusted.overlay.opaque=y).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tarfile
from typing import BinaryIO, Iterator

from . import pathwalk
from .pathwalk import LayerError, clean, open_dir  # noqa: F401  (one walk, shared with the runtime)

WHITEOUT_PREFIX = ".wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
WHITEOUT_META = ".wh..wh."
OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"
# xattrs a layer may carry; trusted.overlay.* would steer overlayfs itself.
_XATTR_PREFIXES = ("user.", "security.capability")
_DIR_FLAGS = pathwalk.DIR_FLAGS

# What the kernel says of a value an entry carries (a name or link target too long, an
# xattr it refuses, too many links), not of the host: the layer's fault, so a 400.
_ENTRY_ERRNOS = (errno.ENAMETOOLONG, errno.EINVAL, errno.ERANGE, errno.E2BIG, errno.EOVERFLOW,
                 errno.EMLINK)


@contextlib.contextmanager
def _entry_errors(name: str):
    """Turn what an entry's own values make the system refuse into a LayerError."""
    try:
        yield
    except (OverflowError, ValueError) as exc:  # ids, times, device numbers out of range
        raise LayerError(f"layer entry {name!r} has a value out of range: {exc}") from None
    except OSError as exc:
        if exc.errno not in _ENTRY_ERRNOS:
            raise
        raise LayerError(f"layer entry {name!r} cannot be made: {exc.strerror}") from None


def lstat_at(name: str, dir_fd: int) -> os.stat_result | None:
    """What is at `name` in the directory `dir_fd` (never followed), or None."""
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def remove_at(name: str, dir_fd: int) -> None:
    """Remove whatever is at `name` in the directory `dir_fd`, a tree too (never followed)."""
    st = lstat_at(name, dir_fd)
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)


class _Extractor:
    def __init__(self, root: str):
        self.root_fd = os.open(root, _DIR_FLAGS)
        self.dir_times: list[tuple[list[str], int]] = []
        self.size = 0

    def close(self) -> None:
        os.close(self.root_fd)

    def entry(self, tf: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        parts = clean(m.name)
        if not parts:
            if m.isdir():
                self._attributes(self.root_fd, m)
                self.dir_times.append(([], m.mtime))
            return
        parents, base = parts[:-1], parts[-1]
        if base.startswith(WHITEOUT_PREFIX):
            self._whiteout(parents, base, m.name)
            return
        parent_fd = open_dir(self.root_fd, parents, True, m.name)
        try:
            self._make(tf, m, parent_fd, parents, base)
        finally:
            os.close(parent_fd)

    def _whiteout(self, parents: list[str], base: str, name: str) -> None:
        parent_fd = open_dir(self.root_fd, parents, True, name)
        try:
            if base == WHITEOUT_OPAQUE:
                os.setxattr(parent_fd, OVERLAY_OPAQUE_XATTR, b"y")
                return
            if base.startswith(WHITEOUT_META):
                return  # aufs hardlink bookkeeping; carries nothing for overlay
            hidden = base[len(WHITEOUT_PREFIX):]
            if hidden in ("", ".", "..") or hidden.startswith(WHITEOUT_PREFIX):
                raise LayerError(f"invalid whiteout name {name!r}")
            remove_at(hidden, parent_fd)
            os.mknod(hidden, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=parent_fd)
        finally:
            os.close(parent_fd)

    def _make(self, tf: tarfile.TarFile, m: tarfile.TarInfo, parent_fd: int,
              parents: list[str], base: str) -> None:
        existing = lstat_at(base, parent_fd)
        if m.isdir():
            if existing is not None and not stat.S_ISDIR(existing.st_mode):
                remove_at(base, parent_fd)
                existing = None
            if existing is None:
                os.mkdir(base, 0o700, dir_fd=parent_fd)
            fd = os.open(base, _DIR_FLAGS, dir_fd=parent_fd)
            try:
                self._attributes(fd, m)
            finally:
                os.close(fd)
            self.dir_times.append((parents + [base], m.mtime))
            return
        if existing is not None:
            remove_at(base, parent_fd)
        if m.isreg():
            fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600, dir_fd=parent_fd)
            try:
                src = tf.extractfile(m)
                while True:
                    chunk = src.read(1 << 20)
                    if not chunk:
                        break
                    os.write(fd, chunk)
                self.size += m.size
                self._attributes(fd, m)
                os.utime(fd, (m.mtime, m.mtime))
            finally:
                os.close(fd)
        elif m.issym():
            os.symlink(m.linkname, base, dir_fd=parent_fd)
            os.chown(base, m.uid, m.gid, dir_fd=parent_fd, follow_symlinks=False)
            os.utime(base, (m.mtime, m.mtime), dir_fd=parent_fd, follow_symlinks=False)
        elif m.islnk():
            target = clean(m.linkname)
            if not target:
                raise LayerError(f"hardlink {m.name!r} points at the layer root")
            src_fd = open_dir(self.root_fd, target[:-1], False, m.name)
            try:
                st = lstat_at(target[-1], src_fd)
                if st is None:
                    raise LayerError(f"hardlink {m.name!r} points at {m.linkname!r}, "
                                     "which is not in this layer")
                if stat.S_ISDIR(st.st_mode):
                    raise LayerError(f"hardlink {m.name!r} points at a directory")
                os.link(target[-1], base, src_dir_fd=src_fd, dst_dir_fd=parent_fd,
                        follow_symlinks=False)
            finally:
                os.close(src_fd)
        elif m.ischr() or m.isblk() or m.isfifo():
            kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK if m.isblk() else stat.S_IFIFO
            os.mknod(base, kind | 0o600, os.makedev(m.devmajor, m.devminor) if not m.isfifo() else 0,
                     dir_fd=parent_fd)
            # Opening a device or fifo could block or act: set attributes by name. The
            # name is the node just made in a tree only this extraction writes.
            os.chown(base, m.uid, m.gid, dir_fd=parent_fd, follow_symlinks=False)
            os.chmod(base, m.mode & 0o7777, dir_fd=parent_fd)
            self._xattrs(f"/proc/self/fd/{parent_fd}/{base}", m)
            os.utime(base, (m.mtime, m.mtime), dir_fd=parent_fd, follow_symlinks=False)
        else:
            raise LayerError(f"layer entry {m.name!r} has an unsupported type {m.type!r}")

    def _attributes(self, fd: int, m: tarfile.TarInfo) -> None:
        os.fchown(fd, m.uid, m.gid)
        os.fchmod(fd, m.mode & 0o7777)  # after chown, which clears set-id bits
        self._xattrs(fd, m)

    def _xattrs(self, target, m: tarfile.TarInfo) -> None:
        for key, value in (m.pax_headers or {}).items():
            if not key.startswith("SCHILY.xattr."):
                continue
            attr = key[len("SCHILY.xattr."):]
            if not attr.startswith(_XATTR_PREFIXES):
                continue
            raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
            try:
                if isinstance(target, int):
                    os.setxattr(target, attr, raw)
                else:
                    os.setxattr(target, attr, raw, follow_symlinks=False)
            except OSError as exc:
                if exc.errno not in (errno.ENOTSUP, errno.EPERM):
                    raise

    def finish(self) -> None:
        # Directory times last: making entries inside a directory changes its mtime.
        for parts, mtime in reversed(self.dir_times):
            try:
                fd = open_dir(self.root_fd, parts, False, "/".join(parts))
            except LayerError:
                continue  # a later entry replaced the directory (or one above it)
            try:
                with _entry_errors("/".join(parts) or "."):
                    os.utime(fd, (mtime, mtime))
            finally:
                os.close(fd)


def extract_layer(stream: BinaryIO, root: str) -> int:
    """Extract the plain tar `stream` into the empty directory `root`; return its file bytes.

    A seekable file is read in place, each member's data at one go; anything else is read
    as a stream (tarfile reads those 10 KiB at a time, at half the speed)."""
    ex = _Extractor(root)
    try:
        try:
            seekable = getattr(stream, "seekable", None)  # not every reader says
            mode = "r:" if seekable is not None and seekable() else "r|"
            with tarfile.open(fileobj=stream, mode=mode, errorlevel=2) as tf:
                for member in tf:
                    with _entry_errors(member.name):
                        ex.entry(tf, member)
        except tarfile.TarError as exc:
            raise LayerError(f"the layer is not a valid tar archive: {exc}") from None
        ex.finish()
        return ex.size
    finally:
        ex.close()


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
        if attr.startswith(_XATTR_PREFIXES):
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
