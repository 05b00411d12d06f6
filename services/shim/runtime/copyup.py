"""A volume filled from the image: while a volume mounted over a directory of the image is
empty, it gets that directory's files first (as Docker copies them, unless the mount says
NoCopy), with their owners, modes and times.

Runs on the container's rootfs before the volumes are mounted over it (in the init of the
built-in runtime, in the shim before runc), in the host's view. Both trees are walked through
fds, never following a symlink: the image's symlinks are copied as symlinks, and nothing in
either tree can lead the copy out of it. Each entry's owner, mode and times are set through
the fd it was made with (a node's by name, never followed): another container sharing the
volume may swap an entry for a symlink to a host file while it is copied.
"""

from __future__ import annotations

import json
import os
import stat

from services.common import pathwalk
from services.common.wire import schema

from .base import StartError

NOFOLLOW_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def wanted(config: dict) -> list[tuple[str, str]]:
    """(destination, volume directory on the host) of each volume the bundle fills."""
    try:
        dests = json.loads((config.get("annotations") or {}).get(schema.ANNOTATION_COPY_UP) or "[]")
    except ValueError:
        raise StartError(f"config.json: {schema.ANNOTATION_COPY_UP} is not a JSON list") from None
    sources = {m["destination"]: m.get("source") for m in config.get("mounts") or [] if m.get("type") == "bind"}
    return [(dest, sources[dest]) for dest in dests if sources.get(dest)]


def fill(root_fd: int, config: dict) -> None:
    """Fill each empty volume of the bundle from the image's directory at its destination."""
    for dest, source in wanted(config):
        try:
            image_dir = pathwalk.open_dir(root_fd, pathwalk.clean(dest), False, dest)
        except (pathwalk.LayerError, OSError):
            continue   # nothing (or no directory) there in the image: nothing to copy
        try:
            volume = os.open(source, NOFOLLOW_DIR)
        except OSError:
            os.close(image_dir)
            continue
        try:
            if not os.listdir(volume) and os.listdir(image_dir):
                _copy_tree(image_dir, volume)
                st = os.fstat(image_dir)
                os.fchown(volume, st.st_uid, st.st_gid)
                os.fchmod(volume, stat.S_IMODE(st.st_mode))
        except OSError as exc:
            raise StartError(f"copying the image's {dest} into its volume: {exc}") from None
        finally:
            os.close(image_dir)
            os.close(volume)


def _copy_tree(src: int, dst: int) -> None:
    for name in os.listdir(src):
        st = os.stat(name, dir_fd=src, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(name, 0o700, dir_fd=dst)
            child_src = os.open(name, NOFOLLOW_DIR, dir_fd=src)
            try:
                child_dst = os.open(name, NOFOLLOW_DIR, dir_fd=dst)
                try:
                    _copy_tree(child_src, child_dst)
                    _set_attributes(child_dst, st)   # after its entries, which change its times
                finally:
                    os.close(child_dst)
            finally:
                os.close(child_src)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
            os.chown(name, st.st_uid, st.st_gid, dir_fd=dst, follow_symlinks=False)
            os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst, follow_symlinks=False)
        elif stat.S_ISREG(st.st_mode):
            _copy_file(src, dst, name, st)
        elif stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            pathwalk.make_node(name, st.st_mode, st.st_rdev, dst, (st.st_uid, st.st_gid))
            os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst, follow_symlinks=False)
        # else a socket: nothing to copy


def _set_attributes(fd: int, st: os.stat_result) -> None:
    """The owner, mode and times of `st` on what `fd` is open on (the mode after the owner:
    a chown clears set-id bits)."""
    os.fchown(fd, st.st_uid, st.st_gid)
    os.fchmod(fd, stat.S_IMODE(st.st_mode))
    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))


def _copy_file(src: int, dst: int, name: str, st: os.stat_result) -> None:
    fd_in = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
    try:
        fd_out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=dst)
        try:
            while os.sendfile(fd_out, fd_in, None, 1 << 20):
                pass
            _set_attributes(fd_out, st)
        finally:
            os.close(fd_out)
    finally:
        os.close(fd_in)
