"""Walking a path inside an untrusted tree without ever following a symlink out of it.

Used by layer extraction and by the runtime's mount targets: each component is opened
with O_NOFOLLOW relative to its parent's fd, so whatever the tree holds, the walk
stays inside it. (Kept apart from safetar so a container's start imports no tarfile.)
"""

from __future__ import annotations

import errno
import os

from . import errors

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class LayerError(errors.BadParameter):
    """A layer that is malformed or tries to reach outside its root."""


def clean(name: str) -> list[str]:
    """The components of an entry name, resolved lexically inside the root."""
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise LayerError(f"layer entry {name!r} points outside the layer")
            parts.pop()
            continue
        parts.append(part)
    return parts


def open_dir(root_fd: int, parts: list[str], create: bool, name: str) -> int:
    """An fd of the directory `parts` below root, reached without following any symlink."""
    fd = os.dup(root_fd)
    try:
        for part in parts:
            try:
                nxt = os.open(part, DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise LayerError(f"layer entry {name!r}: {'/'.join(parts)} does not exist") from None
                os.mkdir(part, 0o755, dir_fd=fd)
                nxt = os.open(part, DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise LayerError(
                        f"layer entry {name!r} goes through {part!r}, which is not a directory "
                        "(a symlink or a file)") from None
                raise
            os.close(fd)
            fd = nxt
        return fd
    except BaseException:
        os.close(fd)
        raise
