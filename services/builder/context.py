"""Receiving a build context: unpacking the uploaded tar, finding the Dockerfile in it, and
dropping what .dockerignore excludes.

The context comes from the client and is hostile until proven otherwise. It is unpacked
by safetar's extractor, as a layer is, under the context's own `_RULES`: names are cleaned
lexically and one that climbs out of the root is refused (a leading `/` is dropped, so
absolute names stay inside, as in Docker's unpacker); no symlink an earlier entry planted
is ever followed (an entry below one is refused); hardlinks may only point at files
extracted before them. Device nodes and fifos are skipped, `.wh.` names are ordinary
files (a context is not a layer), ownership is not kept (the copier sets owners) nor are
xattrs, mode and mtime are. Unpacked bytes are capped, as read and as written.

The root should be private (0700): files keep their set-id bits, for COPY to carry them.
On an error the root holds a partial tree; the caller removes it.
"""

from __future__ import annotations

import lzma
import os
import stat
import threading
import zlib

import zstandard

from services.common import compression, errors, pathwalk, safetar
from services.common.store.layers import Stopped
from services.common.safetar import lstat_at, remove_at

from . import dockerignore

DEFAULT_DOCKERFILE = "Dockerfile"
DOCKERIGNORE = ".dockerignore"
# Deeper or longer names than Linux's path-based calls can take are of no use to a build,
# and bounding them keeps every walk below (recursive, one fd a level) within limits.
MAX_DEPTH = 512
MAX_NAME_BYTES = 4096
MAX_DOCKERIGNORE_BYTES = 1 << 20
_MAX_LINKS = 255  # symlinks followed while resolving one name, as moby/sys/symlink
_DIR_FLAGS = pathwalk.DIR_FLAGS

# How a context's entries are made: where it differs from a layer (safetar.LAYER).
_RULES = safetar.Rules(
    noun="build context", error=errors.BadParameter,
    whiteouts=False,  # `.wh.` names are ordinary files: a context is not a layer
    owners=False, xattrs=False,  # the copier sets owners
    special_files="skip", unknown_types="skip",  # no place in a context
    root_attributes=False,  # the root itself is left as it is, as in Docker
    dir_modes="last",  # a read-only directory still receives its entries
    implied_dir_mode=0o755,  # whatever the umask, as Docker's are
    bounded_times=True,  # as Docker's boundTime
    max_depth=MAX_DEPTH, max_name_bytes=MAX_NAME_BYTES)


def _not_a_tar(exc: Exception) -> errors.BadParameter:
    return errors.BadParameter(f"the build context is not a valid tar archive: {exc}")


class _CappedReader:
    """The plain tar bytes, refusing more than `limit` and reporting corrupt compression."""

    def __init__(self, inner, limit: int, stop: threading.Event | None = None):
        self.inner = inner
        self.limit = limit
        self.stop = stop
        self.count = 0
        self.head = b""

    def empty(self) -> bool:
        """Whether there is nothing at all to read (the first byte is kept for `read`)."""
        self.head = self._read(1)
        return not self.head

    def read(self, n: int = -1) -> bytes:
        if self.head and n:
            data, self.head = self.head, b""
            return data
        return self._read(n)

    def _read(self, n: int) -> bytes:
        if self.stop is not None and self.stop.is_set():
            raise Stopped("the build was cancelled")
        try:
            data = self.inner.read(n)
        except (OSError, EOFError, zlib.error, lzma.LZMAError, zstandard.ZstdError) as exc:
            raise _not_a_tar(exc) from None
        self.count += len(data)
        if self.count > self.limit:
            raise errors.PayloadTooLarge(f"the build context is larger than {self.limit} bytes")
        return data


def extract(tar_path: str, root: str, max_bytes: int, stop: threading.Event | None = None) -> None:
    """Unpack the context tar at `tar_path` (plain, gzip, bzip2, xz or zstd) into the
    existing empty directory `root`, refusing more than `max_bytes` of unpacked data; with
    `stop` (store.stoppable's), it ends at its next read once that is set."""
    with open(tar_path, "rb") as raw:
        reader = _CappedReader(compression.open_decompressed(raw, compression.detect_file(raw)),
                               max_bytes, stop)
        if reader.empty():
            return  # an empty body is an empty context, as in Docker
        safetar.extract(reader, root, _RULES, write_limit=max_bytes)


def _open_dir(root_fd: int, parts: list[str]) -> int | None:
    """An fd of the directory `parts` below root, reached through no symlink; None if not."""
    try:
        return pathwalk.open_dir(root_fd, parts, False, "/".join(parts))
    except pathwalk.LayerError:
        return None


def _lookup(root_fd: int, parents: list[str], name: str) -> os.stat_result | None:
    fd = _open_dir(root_fd, parents)
    if fd is None:
        return None
    try:
        return lstat_at(name, fd)
    finally:
        os.close(fd)


def _resolve(root_fd: int, parts: list[str], shown: str) -> list[str]:
    """`parts` with every symlink resolved as if root were `/` (moby's
    FollowSymlinkInScope): an absolute target starts again at the root, `..` stops there."""
    pending, resolved, links = list(parts), [], 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        st = _lookup(root_fd, resolved, part)
        if st is None or not stat.S_ISLNK(st.st_mode):
            resolved.append(part)  # a missing component is kept as named
            continue
        links += 1
        if links > _MAX_LINKS:
            raise errors.BadParameter(f"{shown}: too many levels of symbolic links")
        fd = _open_dir(root_fd, resolved)
        try:
            target = os.readlink(part, dir_fd=fd)
        finally:
            os.close(fd)
        if target.startswith("/"):
            resolved = []
        pending[:0] = target.split("/")
    return resolved


def _inside(name: str) -> list[str] | None:
    """`name` joined to the root and cleaned (an absolute name is taken inside, as Docker
    joins it to the root); None if it climbs out."""
    try:
        return pathwalk.clean(name)
    except pathwalk.LayerError:
        return None


def _locate(root_fd: int, name: str | None) -> tuple[list[str], str]:
    """The resolved components of the Dockerfile `name` (a regular file), and its name."""
    shown = name or DEFAULT_DOCKERFILE
    parts = _inside(shown)
    if parts is None:
        raise errors.BadParameter(f"the Dockerfile ({shown}) must be within the build context")
    # Docker falls back to "dockerfile" only for the default name.
    candidates = [parts] + ([["dockerfile"]] if shown == DEFAULT_DOCKERFILE else [])
    try:
        for candidate in candidates:
            resolved = _resolve(root_fd, candidate, shown)
            st = _lookup(root_fd, resolved[:-1], resolved[-1]) if resolved else None
            if st is None:
                continue
            if not stat.S_ISREG(st.st_mode):
                raise errors.BadParameter(f"the Dockerfile ({shown}) is not a regular file")
            return resolved, shown
    except ValueError:  # a NUL in the name
        pass
    raise errors.BadParameter(f"Cannot locate specified Dockerfile: {shown}")


def dockerfile_path(root: str, name: str | None) -> str:
    """The absolute path, inside `root`, of the Dockerfile `name` (default "Dockerfile")."""
    root_fd = os.open(root, _DIR_FLAGS)
    try:
        parts, _ = _locate(root_fd, name)
    finally:
        os.close(root_fd)
    return os.path.join(os.path.abspath(root), *parts)


def _read_at(root_fd: int, parts: list[str], limit: int, what: str) -> bytes:
    """The regular file `parts` below root, opened without following any symlink."""
    dir_fd = pathwalk.open_dir(root_fd, parts[:-1], False, "/".join(parts))
    try:
        fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                     dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise errors.BadParameter(f"{what} is not a regular file")
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise errors.PayloadTooLarge(f"{what} is larger than {limit} bytes")
    return data


def read_dockerfile(root: str, name: str | None, max_bytes: int = 10 << 20) -> bytes:
    """The contents of the Dockerfile `name` in the context at `root`."""
    root_fd = os.open(root, _DIR_FLAGS)
    try:
        parts, shown = _locate(root_fd, name)
        data = _read_at(root_fd, parts, max_bytes, f"the Dockerfile ({shown})")
    finally:
        os.close(root_fd)
    if not data:
        raise errors.BadParameter(f"the Dockerfile ({shown}) cannot be empty")
    return data


def _read_dockerignore(root_fd: int) -> bytes | None:
    parts = _resolve(root_fd, [DOCKERIGNORE], DOCKERIGNORE)
    st = _lookup(root_fd, parts[:-1], parts[-1]) if parts else None
    if st is None:
        return None  # no .dockerignore: nothing is excluded
    if not stat.S_ISREG(st.st_mode):
        raise errors.BadParameter(f"error reading {DOCKERIGNORE}: not a regular file")
    return _read_at(root_fd, parts, MAX_DOCKERIGNORE_BYTES, DOCKERIGNORE)


def _prune(dir_fd: int, prefix: str, matcher: dockerignore.Matcher,
           hits: tuple[bool, ...] | None, depth: int) -> bool:
    """Remove what `matcher` excludes below `dir_fd`; whether anything is left there."""
    if depth > MAX_DEPTH:
        raise errors.BadParameter("the build context is nested too deeply")
    with os.scandir(dir_fd) as it:
        entries = sorted((e.name, e.is_dir(follow_symlinks=False)) for e in it)
    kept = False
    for name, is_dir in entries:
        rel = prefix + name
        excluded, below = matcher.excluded_below(rel, hits)
        if is_dir and (not excluded or matcher.dir_may_hold_inclusions(rel)):
            sub = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
            try:
                inner = _prune(sub, rel + "/", matcher, below, depth + 1)
            finally:
                os.close(sub)
            if not excluded or inner:
                # An excluded directory stays only as the parent of what `!` brought back.
                kept = True
                continue
        elif not excluded:
            kept = True
            continue
        remove_at(name, dir_fd)
    return kept


def apply_dockerignore(root: str, dockerfile_rel: str) -> None:
    """Remove from the context at `root` every path its .dockerignore excludes.

    The Dockerfile and .dockerignore are removed too when they match (the caller has read
    the Dockerfile already): as in Docker, they are not there for COPY and ADD."""
    root_fd = os.open(root, _DIR_FLAGS)
    try:
        data = _read_dockerignore(root_fd)
        if data is None:
            return
        try:
            matcher = dockerignore.Matcher(dockerignore.read_patterns(data))
        except errors.BadParameter as exc:
            raise errors.BadParameter(f"error reading {DOCKERIGNORE}: {exc.message}") from None
        if not matcher.patterns:
            return
        _prune(root_fd, "", matcher, None, 0)
        # Docker checks the Dockerfile by name on its own (the walk has mostly done it).
        parts = _inside(dockerfile_rel or "")
        fd = _open_dir(root_fd, parts[:-1]) if parts and matcher.excluded("/".join(parts)) else None
        if fd is not None:
            try:
                remove_at(parts[-1], fd)
            finally:
                os.close(fd)
    finally:
        os.close(root_fd)
