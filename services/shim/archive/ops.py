"""What a copy does once its helper is inside the container's root (its / is the container's):
stat a path, write its archive, extract an archive into a directory, as Docker does.

Nothing here imports or looks up anything at run time (no NSS: users and groups are read
from the container's files by hand), and no file is opened in a way that could block or
act: regular files only, opened without blocking, on a view whose mounts are all nodev.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import stat
from typing import BinaryIO

from services.common import compression, errors, safetar, untar

from . import paths

# An archive copied into a container: owners, modes, xattrs, device nodes and fifos as the
# tar says; `.wh.` names are plain names; an entry naming the extraction directory itself
# is ignored (it is the container's, not the tar's); parents no entry names are 0755.
ARCHIVE = untar.Rules(noun="archive", error=errors.BadParameter, whiteouts=False, owners=True,
                      xattrs=True, special_files="make", unknown_types="refuse", root_attributes=False,
                      dir_modes="now", implied_dir_mode=0o755, bounded_times=True,
                      max_depth=None, max_name_bytes=None)
# The most of /etc/passwd or /etc/group read for copyUIDGID.
TABLE_LIMIT = 4 << 20


class Missing(errors.NotFound):
    """The path is not in the container (the supervisor words it as Docker does)."""


def _lookup_error(exc: OSError, path: str) -> errors.DockyardError:
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return Missing(path)
    return errors.BadParameter(f"{path}: {exc.strerror}")


def stat_path(path: str) -> tuple[str, os.stat_result, dict]:
    """The absolute form of the client's `path`, its lstat (the last component is not
    followed, unless a trailing "/" asks) and Docker's stat of it."""
    abs_path = paths.absolute(path)
    try:
        st = os.lstat(abs_path)
        target = paths.follow_in_scope(paths.clean(abs_path), os.lstat, os.readlink) \
            if stat.S_ISLNK(st.st_mode) else ""
    except OSError as exc:
        raise _lookup_error(exc, path) from None
    return abs_path, st, paths.path_stat(abs_path, st, target)


def write_archive(abs_path: str, st: os.stat_result, out: BinaryIO) -> None:
    """The tar of what `abs_path` names, its entries rebased to its base name: a
    directory with everything in it (its contents alone for "/."), else the one entry."""
    try:
        if stat.S_ISDIR(st.st_mode):
            follow = abs_path.endswith(("/", "/."))
            flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
            fd, name = os.open(abs_path, flags), "."
        else:
            parent, _, name = abs_path.rpartition("/")
            fd = os.open(parent or "/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            os.stat(name, dir_fd=fd, follow_symlinks=False)
    except OSError as exc:   # the container changed it since its stat: gone, or not a directory now
        if exc.errno == errno.ELOOP:
            raise Missing(abs_path) from None
        raise _lookup_error(exc, abs_path) from None
    try:
        safetar.write_path(fd, name, out, paths.archive_name(abs_path))
    finally:
        os.close(fd)


def extraction_dir(path: str, volumes: list[tuple[str, bool]], readonly_rootfs: bool) -> str:
    """The directory a PUT extracts into: `path` with every symlink followed (its last
    component too), which must be a directory the container may write."""
    try:
        real = os.path.realpath(paths.clean(path), strict=True)
    except OSError as exc:
        raise _lookup_error(exc, path) from None
    resolved = paths.preserve_trailing(real, path)
    try:
        st = os.lstat(resolved)
    except NotADirectoryError:
        raise errors.BadParameter("extraction point is not a directory") from None
    except OSError as exc:
        raise _lookup_error(exc, path) from None
    if not stat.S_ISDIR(st.st_mode):
        raise errors.BadParameter("extraction point is not a directory")
    reason = paths.read_only_reason(resolved, volumes, readonly_rootfs)
    if reason:
        raise errors.BadParameter(reason)
    return resolved


def _table(name: str) -> list[list[str]]:
    """The rows of the container's /etc/<name> (none if it has none, or not a plain file)."""
    try:
        fd = os.open(f"/etc/{name}", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return []
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return []
        text = fh.read(TABLE_LIMIT).decode("utf-8", "replace")
    return [line.split(":") for line in text.splitlines() if line.strip() and not line.startswith("#")]


def owner_for_copy(user: str) -> tuple[int, int] | None:
    """copyUIDGID: who owns what the copy writes (the container's User, looked up in its
    own files), or None to keep the tar's owners."""
    try:
        return paths.copy_owner(user, _table("passwd") if user.partition(":")[0] else [],
                                _table("group") if user.partition(":")[2] else [])
    except LookupError as exc:
        raise errors.BadParameter(str(exc)) from None


class _Prefixed:
    """A reader of `head` then of what `rest` still holds."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self.head, self.rest = head, rest

    def read(self, n: int = -1) -> bytes:
        if self.head:
            data = self.head if n is None or n < 0 or n >= len(self.head) else self.head[:n]
            self.head = self.head[len(data):]
            return data
        return self.rest.read(n)


class _Corrupt:
    """Reads through a decompressor; what it cannot decompress is the client's fault."""

    def __init__(self, inner: BinaryIO):
        self.inner = inner

    def read(self, n: int = -1) -> bytes:
        try:
            return self.inner.read(n)
        except errors.DockyardError:
            raise
        except Exception as exc:  # gzip, bz2, lzma and zstd each raise their own
            raise errors.BadParameter(f"the archive is corrupt: {exc}") from None


def _head(stream: BinaryIO, size: int) -> bytes:
    head = b""
    while len(head) < size and (data := stream.read(size - len(head))):
        head += data
    return head


def extract_archive(stream: BinaryIO, dest: str, no_overwrite_dir_non_dir: bool,
                    owner: tuple[int, int] | None) -> None:
    """Extract the tar `stream` (plain, gzip, bzip2, xz or zstd, as Docker takes it) into
    the directory `dest`. An empty body is an empty archive, as in Docker."""
    head = _head(stream, 8)
    if not head:
        return
    kind = compression.detect(head)
    body = _Prefixed(head, stream)
    if kind != "none":
        body = _Corrupt(compression.open_decompressed(body, kind))
    rules = dataclasses.replace(ARCHIVE, owner=owner,
                                dir_non_dir="refuse" if no_overwrite_dir_non_dir else "replace")
    try:
        untar.extract(body, dest, rules)
    except OSError as exc:
        if exc.errno == errno.EROFS:
            raise errors.BadParameter(f"cannot write into {dest}: read-only file system") from None
        if exc.filename == dest and exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            # The container replaced the destination since it was checked (a symlink now?).
            raise (Missing(dest) if exc.errno == errno.ENOENT else
                   errors.BadParameter("extraction point is not a directory")) from None
        if exc.errno == errno.ENOENT:
            raise errors.Conflict(f"the container changed {dest} while the copy wrote into it: "
                                  f"{exc.strerror}: {exc.filename}") from None
        raise


def stat_line(stat_record: dict) -> bytes:
    """The stat as the helper's first line of output (before the tar of a GET)."""
    return json.dumps(stat_record, separators=(",", ":")).encode() + b"\n"
