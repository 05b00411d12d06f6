"""Walking a path inside an untrusted tree without ever following a symlink out of it.

Used by layer extraction and by the runtime's mount targets and sources: each component is
opened with O_NOFOLLOW relative to its parent's fd, so whatever the tree holds, the walk
stays inside it. Making a device node there (`make_node`) follows no symlink either.
(Kept apart from safetar so a container's start imports no tarfile.)
"""

from __future__ import annotations

import errno
import os
import stat

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


def open_beneath(root: str, subpath: str) -> int:
    """An O_PATH fd of what `subpath` names below the directory `root` (a directory or not),
    reached without following any symlink (`root`'s last component included): a bind of
    /proc/self/fd/N mounts what was walked, whatever is swapped in at that path meanwhile.
    OSError (ELOOP for a symlink, ENOTDIR, ENOENT) names the path where the walk stopped."""
    path = root
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for part in clean(subpath):
            path = os.path.join(path, part)
            nxt = os.open(part, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = nxt
            if stat.S_ISLNK(os.fstat(fd).st_mode):   # O_PATH|O_NOFOLLOW opens the link itself
                raise OSError(errno.ELOOP, "a symlink", path)
        return fd
    except OSError as exc:
        os.close(fd)
        exc.filename = path   # the whole path, not the component
        raise
    except BaseException:
        os.close(fd)
        raise


SET_ID_BITS = stat.S_ISUID | stat.S_ISGID


def make_node(name: str, mode: int, device: int, dir_fd: int, owner: tuple[int, int] | None = None) -> None:
    """Make the device node or fifo `name` in the directory `dir_fd` (`mode` holds its type and
    permission bits), owned by `owner` (uid, gid) if given, never following a symlink: another
    process may swap the node for one meanwhile (a running container's, where docker cp
    writes; another container's, sharing a volume being filled from its image).

    Opening a device or fifo could block or act, so all is done by name: mknod gets the
    mode (less the umask), lchown the owner, and what the umask or the chown took (a chown
    clears set-id bits on anything but a directory) is put back by a chmod that refuses a
    symlink. glibc makes that chmod through an O_PATH fd and /proc/self/fd; where there is no
    /proc (a copy's view of a running container, whose helper has no umask) set-id bits the
    chown cleared stay cleared: they mean nothing on a node, which nothing executes."""
    perm = stat.S_IMODE(mode)
    os.mknod(name, mode, device, dir_fd=dir_fd)
    if owner is not None:
        os.chown(name, *owner, dir_fd=dir_fd, follow_symlinks=False)
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    if stat.S_IFMT(st.st_mode) != stat.S_IFMT(mode):
        raise OSError(errno.ENOENT, "the node made was replaced meanwhile", name)
    made = stat.S_IMODE(st.st_mode)
    if made == perm:
        return
    try:
        os.chmod(name, perm, dir_fd=dir_fd, follow_symlinks=False)
    except (ValueError, NotImplementedError):   # Python's words for glibc's EOPNOTSUPP
        if made | SET_ID_BITS != perm | SET_ID_BITS:
            raise OSError(errno.EOPNOTSUPP, f"cannot set mode {perm:o} without following a symlink "
                          "(a symlink swapped in, or no /proc)", name) from None
