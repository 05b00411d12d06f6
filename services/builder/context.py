"""Receiving a build context: unpacking the uploaded tar, finding the Dockerfile in it, and
dropping what .dockerignore excludes.

The context comes from the client and is hostile until proven otherwise. Entry names are
cleaned lexically and one that climbs out of the root is refused (a leading `/` is
dropped, so absolute names stay inside, as in Docker's unpacker). Parent directories are
walked one component at a time from an fd of the root with O_NOFOLLOW, so no symlink an
earlier entry planted is ever followed: an entry below a symlink is refused. Hardlinks
may only point at entries already extracted. Device nodes and fifos are skipped, `.wh.`
names are ordinary files (a context is not a layer), ownership is not kept (the copier
sets owners) nor are xattrs, mode and mtime are. Unpacked bytes are capped.

The root should be private (0700): files keep their set-id bits, for COPY to carry them.
On an error the root holds a partial tree; the caller removes it.
"""

from __future__ import annotations

import contextlib
import errno
import lzma
import os
import stat
import tarfile
import zlib

import zstandard

from services.common import compression, errors, pathwalk
# safetar's lstat-or-None and remove-without-following-symlinks, shared rather than copied.
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
_MAX_MTIME = ((1 << 63) - 1) // 10**9  # Go's time range (int64 nanoseconds)
_CHUNK = 1 << 20
# What the kernel says of a value an entry carries (not of the host): the client's fault.
_ENTRY_ERRNOS = (errno.ENAMETOOLONG, errno.EINVAL, errno.ERANGE, errno.E2BIG, errno.EOVERFLOW,
                 errno.EMLINK, errno.ELOOP, errno.ENOTDIR)
_DIR_FLAGS = pathwalk.DIR_FLAGS


def _not_a_tar(exc: Exception) -> errors.BadParameter:
    return errors.BadParameter(f"the build context is not a valid tar archive: {exc}")


class _CappedReader:
    """The plain tar bytes, refusing more than `limit` and reporting corrupt compression."""

    def __init__(self, inner, limit: int):
        self.inner = inner
        self.limit = limit
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        try:
            data = self.inner.read(n)
        except (OSError, EOFError, zlib.error, lzma.LZMAError, zstandard.ZstdError) as exc:
            raise _not_a_tar(exc) from None
        self.count += len(data)
        if self.count > self.limit:
            raise errors.PayloadTooLarge(f"the build context is larger than {self.limit} bytes")
        return data


@contextlib.contextmanager
def _entry_errors(name: str):
    try:
        yield
    except (OverflowError, ValueError) as exc:  # a NUL in a name, a value out of range
        raise errors.BadParameter(f"build context entry {name!r} is invalid: {exc}") from None
    except OSError as exc:
        if exc.errno not in _ENTRY_ERRNOS:
            raise
        raise errors.BadParameter(f"build context entry {name!r} cannot be made: "
                                  f"{exc.strerror}") from None


def _entry_parts(name: str, what: str = "entry") -> list[str]:
    try:
        return pathwalk.clean(name)
    except pathwalk.LayerError:
        raise errors.BadParameter(f"build context {what} {name!r} points outside the "
                                  "build context") from None


def _dir_mode(mode: int) -> int:
    # Not root (a test, a rootless daemon): keep the tree our own to walk and remove.
    return mode if os.geteuid() == 0 else mode | 0o700


def _mtime(value) -> float:
    # As Docker's boundTime: a time Go cannot hold (or before 1970, or NaN) is 1970.
    return value if 0 <= value <= _MAX_MTIME else 0


class _Extractor:
    def __init__(self, root_fd: int, limit: int):
        self.root_fd = root_fd
        self.limit = limit
        self.written = 0
        self.dirs: dict[tuple[str, ...], tuple[int, float]] = {}

    def entry(self, tf: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        parts = _entry_parts(m.name)
        if not parts:
            return  # the root itself, which Docker leaves as it is
        if len(parts) > MAX_DEPTH or len(os.fsencode("/".join(parts))) > MAX_NAME_BYTES:
            raise errors.BadParameter(f"build context entry {m.name[:200]!r} is nested too "
                                      "deeply or named too long")
        if not (m.isdir() or m.isreg() or m.issym() or m.islnk()):
            return  # devices, fifos and unknown types have no place in a context
        parent_fd = self._parent(parts[:-1], m.name)
        try:
            self._make(tf, m, parent_fd, parts)
        finally:
            os.close(parent_fd)

    def _parent(self, parents: list[str], name: str) -> int:
        """An fd of the entry's parent directory, made where missing. (pathwalk.open_dir's
        walk, but implied directories are 0755 whatever the umask, as Docker's are.)"""
        fd = os.dup(self.root_fd)
        try:
            for part in parents:
                try:
                    nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    os.mkdir(part, 0o700, dir_fd=fd)
                    nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
                    os.fchmod(nxt, _dir_mode(0o755))
                except OSError as exc:
                    if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                    raise errors.BadParameter(
                        f"build context entry {name!r} goes through {part!r}, which is not a "
                        "directory (a symlink or a file)") from None
                os.close(fd)
                fd = nxt
            return fd
        except BaseException:
            os.close(fd)
            raise

    def _make(self, tf: tarfile.TarFile, m: tarfile.TarInfo, parent_fd: int,
              parts: list[str]) -> None:
        base = parts[-1]
        existing = lstat_at(base, parent_fd)
        if m.isdir():
            if existing is not None and not stat.S_ISDIR(existing.st_mode):
                remove_at(base, parent_fd)
                existing = None
            if existing is None:
                os.mkdir(base, 0o700, dir_fd=parent_fd)
            # Mode and time last: a read-only mode would stop what goes inside, and
            # making entries inside changes the time.
            key = tuple(parts)
            self.dirs.pop(key, None)
            self.dirs[key] = (m.mode & 0o7777, _mtime(m.mtime))
            return
        if m.islnk():
            self._hardlink(m, parent_fd, parts)
            return
        if existing is not None:
            remove_at(base, parent_fd)
        if m.issym():
            if not m.linkname:
                raise errors.BadParameter(f"build context entry {m.name!r} is a symlink to nothing")
            os.symlink(m.linkname, base, dir_fd=parent_fd)  # kept verbatim, never followed here
            mtime = _mtime(m.mtime)
            os.utime(base, (mtime, mtime), dir_fd=parent_fd, follow_symlinks=False)
            return
        fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=parent_fd)
        try:
            src = tf.extractfile(m)
            while chunk := src.read(_CHUNK):
                # Counted apart from the stream: a sparse entry unpacks to more than it reads.
                self.written += len(chunk)
                if self.written > self.limit:
                    raise errors.PayloadTooLarge(
                        f"the build context is larger than {self.limit} bytes")
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
            os.fchmod(fd, m.mode & 0o7777)
            mtime = _mtime(m.mtime)
            os.utime(fd, (mtime, mtime))
        finally:
            os.close(fd)

    def _hardlink(self, m: tarfile.TarInfo, parent_fd: int, parts: list[str]) -> None:
        target = _entry_parts(m.linkname, "hardlink target")
        if not target or target == parts:
            raise errors.BadParameter(f"build context entry {m.name!r} is a hardlink to "
                                      f"{m.linkname!r}, which cannot be linked")
        src_fd = _open_dir(self.root_fd, target[:-1])
        try:
            st = lstat_at(target[-1], src_fd) if src_fd is not None else None
            if st is None or stat.S_ISDIR(st.st_mode):
                raise errors.BadParameter(
                    f"build context entry {m.name!r} is a hardlink to {m.linkname!r}, which is "
                    "not a file extracted before it")
            remove_at(parts[-1], parent_fd)
            try:
                os.link(target[-1], parts[-1], src_dir_fd=src_fd, dst_dir_fd=parent_fd,
                        follow_symlinks=False)
            except FileNotFoundError:  # the target was inside what this entry replaced
                raise errors.BadParameter(f"build context entry {m.name!r} is a hardlink to "
                                          f"{m.linkname!r}, which it replaced") from None
        finally:
            if src_fd is not None:
                os.close(src_fd)

    def finish(self) -> None:
        for parts, (mode, mtime) in self.dirs.items():
            fd = _open_dir(self.root_fd, list(parts))
            if fd is None:
                continue  # a later entry replaced it (or a directory above it)
            try:
                os.fchmod(fd, _dir_mode(mode))
                os.utime(fd, (mtime, mtime))
            finally:
                os.close(fd)


def extract(tar_path: str, root: str, max_bytes: int) -> None:
    """Unpack the context tar at `tar_path` (plain, gzip, bzip2, xz or zstd) into the
    existing empty directory `root`, refusing more than `max_bytes` of unpacked data."""
    with open(tar_path, "rb") as raw:
        reader = _CappedReader(compression.open_decompressed(raw, compression.detect_file(raw)),
                               max_bytes)
        root_fd = os.open(root, _DIR_FLAGS)
        try:
            ex = _Extractor(root_fd, max_bytes)
            try:
                with tarfile.open(fileobj=reader, mode="r|") as tf:
                    while (member := tf.next()) is not None:
                        tf.members.clear()  # a stream needs no index; it would grow per entry
                        with _entry_errors(member.name):
                            ex.entry(tf, member)
            except tarfile.TarError as exc:
                if reader.count == 0:
                    return  # an empty body is an empty context, as in Docker
                raise _not_a_tar(exc) from None
            ex.finish()
        finally:
            os.close(root_fd)


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
