"""Extracting a tar exactly and never outside its root: image layers and build contexts.

Part of safetar (which re-exports it; import it from there), kept apart for size alone.
tarfile's extraction (and its filters, bypassed repeatedly) is never used. Every entry's
name is cleaned lexically; one that climbs out of the root is refused. Parent directories
are walked one component at a time from an fd of the root with O_NOFOLLOW (pathwalk), so
no symlink (whatever an earlier entry planted) is ever followed; the entry is then made
relative to its parent's fd. Hardlinks may only point at files extracted before them.

One extractor serves every kind of tree; what differs between a layer and a build context
is said by its `Rules`, each difference by name (LAYER here, the context's in
services/builder/context.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import math
import os
import shutil
import stat
import tarfile
from typing import BinaryIO, Literal

from . import errors
from .pathwalk import DIR_FLAGS as _DIR_FLAGS
from .pathwalk import LayerError, clean, make_node, open_dir

WHITEOUT_PREFIX = ".wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
WHITEOUT_META = ".wh..wh."
OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"
# xattrs an entry may carry; trusted.overlay.* would steer overlayfs itself.
XATTR_PREFIXES = ("user.", "security.capability")

_MAX_MTIME = ((1 << 63) - 1) // 10**9  # Go's time range (int64 nanoseconds)
_CHUNK = 1 << 20
# What the kernel says of a value an entry carries (a name or link target too long, an
# xattr it refuses, too many links, a path through a non-directory), not of the host:
# the tar's fault, so a 400.
_ENTRY_ERRNOS = (errno.ENAMETOOLONG, errno.EINVAL, errno.ERANGE, errno.E2BIG, errno.EOVERFLOW,
                 errno.EMLINK, errno.ELOOP, errno.ENOTDIR)


@dataclasses.dataclass(frozen=True)
class Rules:
    """How one kind of tree is extracted: each way a build context differs from a layer.

    Whatever the rules, no symlink is followed and nothing is written outside the root; a
    hardlink to itself, to the root, to a directory, to what is not extracted yet or to what
    it replaced is refused; a symlink to nothing is refused; a directory named twice takes
    the last entry's mode and time."""

    noun: str  # what the tar is, in messages: "{noun} entry 'x' ...", "the {noun} is ..."
    error: type[errors.BadParameter]  # what a bad entry raises
    whiteouts: bool  # `.wh.` names are overlayfs whiteouts and opaque markers, else plain names
    owners: bool  # entries keep their uid and gid, else they are the extracting user's
    xattrs: bool  # entries keep their user.* and security.capability xattrs
    special_files: Literal["make", "skip"]  # device nodes and fifos
    unknown_types: Literal["refuse", "skip"]  # any other entry type
    root_attributes: bool  # an entry naming the root sets its attributes, else it is ignored
    # "now": a directory's mode is set as it comes (after its owner); "last": at the end with
    # the times (a read-only directory still receives its entries), and kept rwx for its
    # owner when not root, so an unprivileged extractor can still walk and remove the tree.
    dir_modes: Literal["now", "last"]
    # The mode of a parent directory no entry named: None for 0755 less the umask (as
    # pathwalk makes it), else exactly this mode whatever the umask.
    implied_dir_mode: int | None
    bounded_times: bool  # a time Go cannot hold (or before 1970, or NaN) is 1970, else refused
    max_depth: int | None  # the components an entry's name may have
    max_name_bytes: int | None  # the bytes an entry's cleaned name may have
    # A directory where an entry is not one, or a non-directory where it is one: "replace"
    # it, or "refuse" the entry in Docker's words (docker cp's noOverwriteDirNonDir).
    dir_non_dir: Literal["replace", "refuse"] = "replace"
    owner: tuple[int, int] | None = None  # with `owners`: (uid, gid) of every entry (copyUIDGID)

    def __post_init__(self):
        if (self.special_files not in ("make", "skip") or self.dir_modes not in ("now", "last")
                or self.unknown_types not in ("refuse", "skip")
                or self.dir_non_dir not in ("replace", "refuse")
                or (self.owner is not None and not self.owners)
                or (self.max_depth is None) != (self.max_name_bytes is None)):
            raise ValueError(f"inconsistent extraction rules: {self}")


# An image layer, exactly as its tar says.
LAYER = Rules(noun="layer", error=LayerError, whiteouts=True, owners=True, xattrs=True,
              special_files="make", unknown_types="refuse", root_attributes=True,
              dir_modes="now", implied_dir_mode=None, bounded_times=False,
              max_depth=None, max_name_bytes=None)


@contextlib.contextmanager
def _entry_errors(rules: Rules, name: str):
    """Turn what an entry's own values make the system refuse into the rules' error."""
    try:
        yield
    except (OverflowError, ValueError) as exc:  # ids, times, device numbers out of range; a NUL
        raise rules.error(f"{rules.noun} entry {name!r} has a value out of range: {exc}") from None
    except OSError as exc:
        if exc.errno not in _ENTRY_ERRNOS:
            raise
        raise rules.error(f"{rules.noun} entry {name!r} cannot be made: {exc.strerror}") from None
    except LayerError as exc:
        if rules.error is LayerError:
            raise
        raise rules.error(_reworded(exc.message, rules.noun)) from None


def _reworded(message: str, noun: str) -> str:
    """A refusal of pathwalk's (worded for a layer: "layer entry 'x' ... the layer") for `noun`."""
    if message.startswith("layer entry "):
        message = f"{noun} entry " + message[len("layer entry "):]
    if message.endswith(" the layer"):
        message = message[:-len("layer")] + noun
    return message


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
    def __init__(self, root: str, rules: Rules, write_limit: int | None):
        self.rules = rules
        self.limit = math.inf if write_limit is None else write_limit
        # What files unpacked to, counted as written rather than as read: a sparse entry
        # unpacks to more than the stream holds.
        self.size = 0
        # Directories' modes (when set last) and times, set at the end: making entries
        # inside a directory changes its time. The last entry naming one wins.
        self.dirs: dict[tuple[str, ...], tuple[int, float]] = {}
        self.keep_rwx = 0 if rules.dir_modes == "now" or os.geteuid() == 0 else 0o700
        self.root = root
        self.root_fd = os.open(root, _DIR_FLAGS)

    def close(self) -> None:
        os.close(self.root_fd)

    def entry(self, tf: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        rules = self.rules
        parts = clean(m.name)
        if not parts:
            if m.isdir() and rules.root_attributes:
                self._directory(self.root_fd if rules.dir_modes == "now" else None, parts, m)
            return
        if rules.max_depth is not None and (
                len(parts) > rules.max_depth
                or len(os.fsencode("/".join(parts))) > rules.max_name_bytes):
            raise rules.error(f"{rules.noun} entry {m.name[:200]!r} is nested too deeply or "
                              "named too long")
        whiteout = rules.whiteouts and parts[-1].startswith(WHITEOUT_PREFIX)
        if not (whiteout or m.isreg() or m.isdir() or m.issym() or m.islnk()):
            special = m.ischr() or m.isblk() or m.isfifo()
            if (rules.special_files if special else rules.unknown_types) == "skip":
                return  # before its parents are made: a skipped entry leaves no trace
            if not special:
                raise rules.error(f"{rules.noun} entry {m.name!r} has an unsupported type "
                                  f"{m.type!r}")
        parent_fd = self._parent(parts[:-1], m.name)
        try:
            if whiteout:
                self._whiteout(parent_fd, parts[-1], m.name)
            else:
                self._make(tf, m, parent_fd, parts)
        finally:
            os.close(parent_fd)

    def _parent(self, parents: list[str], name: str) -> int:
        """An fd of the entry's parent directory, the missing ones made."""
        mode = self.rules.implied_dir_mode
        if mode is None:
            return open_dir(self.root_fd, parents, True, name)
        try:
            return open_dir(self.root_fd, parents, False, name)
        except LayerError:
            pass  # one is missing (made below) or not a directory (which the walk below says)
        fd = os.dup(self.root_fd)
        try:
            for part in parents:
                made = lstat_at(part, fd) is None
                if made:
                    os.mkdir(part, 0o700, dir_fd=fd)
                nxt = open_dir(fd, [part], False, name)
                os.close(fd)
                fd = nxt
                if made:
                    os.fchmod(fd, mode)
            return fd
        except BaseException:
            os.close(fd)
            raise

    def _whiteout(self, parent_fd: int, base: str, name: str) -> None:
        if base == WHITEOUT_OPAQUE:
            os.setxattr(parent_fd, OVERLAY_OPAQUE_XATTR, b"y")
            return
        if base.startswith(WHITEOUT_META):
            return  # aufs hardlink bookkeeping; carries nothing for overlay
        hidden = base[len(WHITEOUT_PREFIX):]
        if hidden in ("", ".", "..") or hidden.startswith(WHITEOUT_PREFIX):
            raise self.rules.error(f"invalid whiteout name {name!r}")
        remove_at(hidden, parent_fd)
        os.mknod(hidden, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=parent_fd)

    def _make(self, tf: tarfile.TarFile, m: tarfile.TarInfo, parent_fd: int,
              parts: list[str]) -> None:
        rules, base = self.rules, parts[-1]
        existing = lstat_at(base, parent_fd)
        if existing is not None and rules.dir_non_dir == "refuse" and stat.S_ISDIR(existing.st_mode) != m.isdir():
            was, now = ("non-directory", "directory") if m.isdir() else ("directory", "non-directory")
            raise rules.error(f"cannot overwrite {was} {json.dumps(os.path.join(self.root, *parts))} "
                              f"with {now} {json.dumps(self.root)}")  # Docker's words
        if m.isdir():
            if existing is not None and not stat.S_ISDIR(existing.st_mode):
                remove_at(base, parent_fd)
                existing = None
            if existing is None:
                os.mkdir(base, 0o700, dir_fd=parent_fd)
            if rules.dir_modes == "now":
                fd = os.open(base, _DIR_FLAGS, dir_fd=parent_fd)
                try:
                    self._directory(fd, parts, m)
                finally:
                    os.close(fd)
            else:
                self._directory(None, parts, m)
            return
        if m.islnk():
            self._hardlink(m, parent_fd, parts, existing)
            return
        if m.issym() and not m.linkname:
            raise rules.error(f"{rules.noun} entry {m.name!r} is a symlink to nothing")
        if existing is not None:
            remove_at(base, parent_fd)
        mtime = self._mtime(m)
        if m.isreg():
            self._file(tf, m, parent_fd, base, mtime)
        elif m.issym():
            os.symlink(m.linkname, base, dir_fd=parent_fd)  # kept verbatim, never followed here
            if rules.owners:
                os.chown(base, *self._ids(m), dir_fd=parent_fd, follow_symlinks=False)
            os.utime(base, (mtime, mtime), dir_fd=parent_fd, follow_symlinks=False)
        else:  # a device node or a fifo, to be made
            kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK if m.isblk() else stat.S_IFIFO
            # By name (opening one could block or act), following no symlink: docker cp writes
            # into a running container, whose processes may swap the node for one. No xattrs:
            # the kernel takes no user.* on a node, and security.capability means nothing there.
            make_node(base, kind | (m.mode & 0o7777), os.makedev(m.devmajor, m.devminor) if not m.isfifo() else 0,
                      parent_fd, self._ids(m) if rules.owners else None)
            os.utime(base, (mtime, mtime), dir_fd=parent_fd, follow_symlinks=False)

    def _ids(self, m: tarfile.TarInfo) -> tuple[int, int]:
        """Who owns what an entry makes (with `owners`)."""
        return self.rules.owner if self.rules.owner is not None else (m.uid, m.gid)

    def _file(self, tf: tarfile.TarFile, m: tarfile.TarInfo, parent_fd: int, base: str,
              mtime: float) -> None:
        fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=parent_fd)
        try:
            src = tf.extractfile(m)
            while chunk := src.read(_CHUNK):
                self.size += len(chunk)
                if self.size > self.limit:
                    raise errors.PayloadTooLarge(
                        f"the {self.rules.noun} is larger than {self.limit} bytes")
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
            self._attributes(fd, m)
            os.utime(fd, (mtime, mtime))
        finally:
            os.close(fd)

    def _hardlink(self, m: tarfile.TarInfo, parent_fd: int, parts: list[str],
                  existing: os.stat_result | None) -> None:
        error, name = self.rules.error, m.name
        target = clean(m.linkname)
        if not target:
            raise error(f"hardlink {name!r} points at the {self.rules.noun} root")
        if target == parts:
            raise error(f"hardlink {name!r} points at itself")
        src_fd = open_dir(self.root_fd, target[:-1], False, name)
        try:
            st = lstat_at(target[-1], src_fd)
            if st is None:
                raise error(f"hardlink {name!r} points at {m.linkname!r}, which is not in this "
                            f"{self.rules.noun}")
            if stat.S_ISDIR(st.st_mode):
                raise error(f"hardlink {name!r} points at a directory")
            if existing is not None:
                remove_at(parts[-1], parent_fd)
            try:
                os.link(target[-1], parts[-1], src_dir_fd=src_fd, dst_dir_fd=parent_fd,
                        follow_symlinks=False)
            except FileNotFoundError:  # the target was inside what this entry replaced
                raise error(f"hardlink {name!r} points at {m.linkname!r}, which it "
                            "replaced") from None
        finally:
            os.close(src_fd)

    def _directory(self, fd: int | None, parts: list[str], m: tarfile.TarInfo) -> None:
        """A directory entry's attributes: at once (an open `fd`) or recorded for the end."""
        if fd is not None:
            self._attributes(fd, m)
        key = tuple(parts)
        self.dirs.pop(key, None)  # named again: set in this entry's turn
        self.dirs[key] = (m.mode & 0o7777, self._mtime(m))

    def _mtime(self, m: tarfile.TarInfo) -> float:
        if self.rules.bounded_times and not 0 <= m.mtime <= _MAX_MTIME:
            return 0  # as Docker's boundTime (a NaN too)
        return m.mtime

    def _attributes(self, fd: int, m: tarfile.TarInfo) -> None:
        if self.rules.owners:
            os.fchown(fd, *self._ids(m))
        os.fchmod(fd, m.mode & 0o7777)  # after chown, which clears set-id bits
        if self.rules.xattrs:
            self._xattrs(fd, m)

    def _xattrs(self, fd: int, m: tarfile.TarInfo) -> None:
        for key, value in (m.pax_headers or {}).items():
            if not key.startswith("SCHILY.xattr."):
                continue
            attr = key[len("SCHILY.xattr."):]
            if not attr.startswith(XATTR_PREFIXES):
                continue
            raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
            try:
                os.setxattr(fd, attr, raw)
            except OSError as exc:
                if exc.errno not in (errno.ENOTSUP, errno.EPERM):
                    raise

    def finish(self) -> None:
        late_modes = self.rules.dir_modes == "last"
        for parts, (mode, mtime) in self.dirs.items():
            name = "/".join(parts)
            try:
                fd = open_dir(self.root_fd, list(parts), False, name)
            except LayerError:
                continue  # a later entry replaced the directory (or one above it)
            try:
                with _entry_errors(self.rules, name or "."):
                    if late_modes:
                        os.fchmod(fd, mode | self.keep_rwx)
                    os.utime(fd, (mtime, mtime))
            finally:
                os.close(fd)


def extract(stream: BinaryIO, root: str, rules: Rules, write_limit: int | None = None) -> int:
    """Extract the plain tar `stream` into the empty directory `root` as `rules` say; return
    the bytes its files unpacked to. More than `write_limit` of them is a PayloadTooLarge.

    A seekable file is read in place; anything else is read as a stream (tarfile reads
    those 10 KiB at a time, at half the speed). On an error `root` holds a partial tree."""
    ex = _Extractor(root, rules, write_limit)
    try:
        try:
            seekable = getattr(stream, "seekable", None)  # not every reader says
            mode = "r:" if seekable is not None and seekable() else "r|"
            with tarfile.open(fileobj=stream, mode=mode, errorlevel=2) as tf:
                while (member := tf.next()) is not None:
                    tf.members.clear()  # no entry is looked up again: the index would only grow
                    with _entry_errors(rules, member.name):
                        ex.entry(tf, member)
        except tarfile.TarError as exc:
            raise rules.error(f"the {rules.noun} is not a valid tar archive: {exc}") from None
        ex.finish()
        return ex.size
    finally:
        ex.close()
