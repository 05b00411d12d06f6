"""Read-only file trees the builder copies from and looks into, read without mounting anything.

A DirTree is a plain directory (the build context, or a stage holding a downloaded ADD
file). A LayeredTree is an image's filesystem: its extracted layer directories, top first,
merged as overlayfs merges them (a 0/0 character device is a whiteout that hides the name
below it; a directory with trusted.overlay.opaque=y hides every lower directory of that name;
a non-directory hides everything lower). Paths are "/"-separated and relative to the tree's
root; they name entries exactly, without following symlinks anywhere: resolve() turns a path
into one with its symlinks resolved inside the tree, as a container sees its own filesystem.

lookup_user() reads /etc/passwd and /etc/group through a tree, as --chown needs.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from typing import BinaryIO, Iterable, Protocol

from services.common import errors
from services.common.pathwalk import LayerError, open_dir

# What a container's kernel allows when resolving one path (Linux MAXSYMLINKS).
MAX_LINKS = 40
OPAQUE_XATTR = "trusted.overlay.opaque"
_ROOT_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
# O_NONBLOCK: opening a fifo or a device that took the place of a file must not hang.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
# A root with no layer at all (FROM scratch) is still a directory.
_EMPTY_ROOT = os.stat_result((stat.S_IFDIR | 0o755, 0, 0, 2, 0, 0, 0, 0, 0, 0))


def split(path: str) -> list[str]:
    """The components of a clean tree path (a leading "/", "." and empty parts ignored)."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        # Callers clean paths lexically first; a ".." here would climb out of a layer.
        raise errors.BadParameter(f"path {path!r} is not clean")
    return parts


class Tree(Protocol):
    def lstat(self, path: str): ...
    def readlink(self, path: str) -> str: ...


def resolve_in(tree: Tree, path: str, follow_last: bool = True, root: str = "") -> str:
    """`path` (below `root`) with every symlink in it resolved inside the subtree at `root`.

    Works on anything with lstat() (giving an object with st_mode) and readlink(). An
    absolute link target starts again at `root`, and ".." never climbs above it, so the
    result always lies inside. Missing components are kept as they are, like Docker's
    FollowSymlinkInScope; `root` must itself be resolved already.
    """
    base = split(root)
    done = list(base)
    # A stack of the components still to walk, the next one last.
    todo = [p for p in reversed(path.split("/")) if p not in ("", ".")]
    followed = 0
    while todo:
        part = todo.pop()
        if part == "..":
            if len(done) > len(base):
                done.pop()
            continue
        done.append(part)
        if not todo and not follow_last:
            break
        here = "/".join(done)
        st = tree.lstat(here)
        if st is None or not stat.S_ISLNK(st.st_mode):
            continue
        followed += 1
        if followed > MAX_LINKS:
            raise errors.BadParameter(f"/{path.lstrip('/')}: too many levels of symbolic links")
        target = tree.readlink(here)
        done.pop()
        if target.startswith("/"):
            done = list(base)
        todo.extend(p for p in reversed(target.split("/")) if p not in ("", "."))
    return "/".join(done)


class _Layers:
    """Directories stacked top first; with `whiteouts`, merged by overlayfs's rules."""

    whiteouts = True

    def __init__(self, roots: Iterable[str]):
        self._roots = [os.fspath(r) for r in roots]
        # directory (as a tuple of components) -> the layers that contribute to it, top
        # first, or None when it is not a directory. An image is read-only: never stale.
        self._dirs: dict[tuple[str, ...], list[int] | None] = {(): list(range(len(self._roots)))}

    # -- one layer

    def _lstat_in(self, layer: int, parts) -> os.stat_result | None:
        # Only reached with every ancestor already seen to be a real directory in this
        # layer (see _dir_layers), so this lstat follows no symlink.
        try:
            return os.lstat(os.path.join(self._roots[layer], *parts))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def _hides(self, st: os.stat_result) -> bool:
        return self.whiteouts and stat.S_ISCHR(st.st_mode) and st.st_rdev == 0

    def _opaque(self, layer: int, parts) -> bool:
        if not self.whiteouts:
            return False
        try:
            value = os.getxattr(os.path.join(self._roots[layer], *parts), OPAQUE_XATTR,
                                follow_symlinks=False)
        except OSError:
            return False
        return value == b"y"

    # -- merged

    def _dir_layers(self, parts: tuple[str, ...]) -> list[int] | None:
        depth = len(parts)
        while parts[:depth] not in self._dirs:  # the deepest known ancestor; no recursion
            depth -= 1
        for d in range(depth + 1, len(parts) + 1):
            parent = self._dirs[parts[:d - 1]]
            found: list[int] = []
            for layer in parent or ():
                st = self._lstat_in(layer, parts[:d])
                if st is None:
                    continue
                if self._hides(st) or not stat.S_ISDIR(st.st_mode):
                    break  # a whiteout or a non-directory ends the merge here
                found.append(layer)
                if self._opaque(layer, parts[:d]):
                    break
            self._dirs[parts[:d]] = found or None
        return self._dirs[parts]

    def _locate(self, parts: list[str]) -> tuple[int, os.stat_result] | None:
        if not parts:
            return (0, os.lstat(self._roots[0])) if self._roots else (-1, _EMPTY_ROOT)
        for layer in self._dir_layers(tuple(parts[:-1])) or ():
            st = self._lstat_in(layer, parts)
            if st is None:
                continue
            return None if self._hides(st) else (layer, st)
        return None

    def _parent_fd(self, layer: int, parts: list[str], path: str) -> int:
        root_fd = os.open(self._roots[layer], _ROOT_FLAGS)
        try:
            return open_dir(root_fd, parts[:-1], False, path)
        except LayerError:
            raise errors.BadParameter(f"{path}: a component changed while it was read") from None
        finally:
            os.close(root_fd)

    # -- public

    def lstat(self, path: str) -> os.stat_result | None:
        """The entry at `path` (no symlink followed, not even a parent), or None."""
        found = self._locate(split(path))
        return found[1] if found else None

    def listdir(self, path: str) -> list[str]:
        parts = tuple(split(path))
        layers = self._dir_layers(parts)
        if layers is None:
            raise errors.BadParameter(f"/{'/'.join(parts)}: not a directory")
        names: set[str] = set()
        for layer in layers:
            names.update(os.listdir(os.path.join(self._roots[layer], *parts)))
        return sorted(n for n in names if self._locate([*parts, n]) is not None)

    def open(self, path: str) -> BinaryIO:
        """A regular file, reached one component at a time without following a symlink."""
        parts = split(path)
        found = self._locate(parts)
        if found is None or not stat.S_ISREG(found[1].st_mode) or found[0] < 0:
            raise errors.BadParameter(f"/{'/'.join(parts)}: not a regular file")
        dir_fd = self._parent_fd(found[0], parts, path)
        try:
            fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOENT, errno.ENOTDIR):
                raise errors.BadParameter(f"/{'/'.join(parts)}: not a regular file") from None
            raise
        finally:
            os.close(dir_fd)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise errors.BadParameter(f"/{'/'.join(parts)}: not a regular file")
        return os.fdopen(fd, "rb")

    def readlink(self, path: str) -> str:
        parts = split(path)
        found = self._locate(parts)
        if found is None or not stat.S_ISLNK(found[1].st_mode):
            raise errors.BadParameter(f"/{'/'.join(parts)}: not a symbolic link")
        dir_fd = self._parent_fd(found[0], parts, path)
        try:
            return os.readlink(parts[-1], dir_fd=dir_fd)
        finally:
            os.close(dir_fd)

    def resolve(self, path: str, follow_last: bool = True) -> str:
        return resolve_in(self, path, follow_last)


class DirTree(_Layers):
    """A plain directory: nothing in it is a whiteout or opaque."""

    whiteouts = False

    def __init__(self, root: str):
        super().__init__([root])


class LayeredTree(_Layers):
    """An image's filesystem from its layer directories, top first, merged as overlayfs would."""

    def __init__(self, layers: list[str]):
        super().__init__(layers)


# ----------------------------------------------------------------------------- --chown

_CHOWN_PREFIX = "unable to convert uid/gid chown string to host mapping: "
_NUMBER = re.compile(r"[+-]?[0-9]+")
_MAX_ID = 0xFFFFFFFE  # (uid_t)-1 means "unchanged" to chown


def lookup_user(tree, spec: str) -> tuple[int, int]:
    """Docker's --chown: "user", "user:group", each a number or a name from the tree's files.

    As in Docker, a spec without a group uses the user part as the group too ("1000" is
    1000:1000, "app" needs a group named app), and numbers need no lookup. `tree` may be
    None (FROM scratch): then only numbers work.
    """
    parts = spec.split(":")
    if len(parts) > 2:
        raise errors.BadParameter(f"{_CHOWN_PREFIX}invalid chown string format: {spec}")
    user, group = parts[0], parts[-1]
    uid = _lookup(tree, user, "etc/passwd", "uid for user", "user")
    gid = _lookup(tree, group, "etc/group", "gid for group", "group")
    return uid, gid


def _lookup(tree, name: str, file: str, what: str, kind: str) -> int:
    if _NUMBER.fullmatch(name):
        value = int(name)
        if not 0 <= value <= _MAX_ID:
            raise errors.BadParameter(f"{_CHOWN_PREFIX}can't find {what} {name}: "
                                      f"{value} is out of range")
        return value
    for fields in _records(tree, file, what, name):
        # name:password:id:... in both files; the first line naming it wins.
        if len(fields) >= 3 and fields[0] == name and _NUMBER.fullmatch(fields[2]):
            value = int(fields[2])
            if 0 <= value <= _MAX_ID:
                return value
    raise errors.BadParameter(f"{_CHOWN_PREFIX}can't find {what} {name}: no such {kind}: {name}")


def _records(tree, file: str, what: str, name: str):
    missing = errors.BadParameter(
        f"{_CHOWN_PREFIX}can't find {what} {name}: open /{file}: no such file or directory")
    if tree is None:
        raise missing
    path = tree.resolve(file)
    st = tree.lstat(path)
    if st is None or not stat.S_ISREG(st.st_mode):
        raise missing
    with tree.open(path) as fh:
        for raw in fh:  # line by line: an image's /etc/passwd may be large
            line = raw.decode("utf-8", "surrogateescape").strip()
            if line:
                yield line.split(":")
