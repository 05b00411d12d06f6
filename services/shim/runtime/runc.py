"""Running a bundle under runc: the same bundle, stdio, log and exit status as the built-in
runtime, with Debian's runc making the container.

The shim prepares what runc expects of a bundle and the OCI spec leaves to whoever makes
it: the overlay rootfs mounted at root.path (in a mount namespace of the shim's own, so
the host never sees it) and Docker's User resolved to numbers in the container's files.
Then `runc create` with the shim's pipes as the container's stdio (or a console socket
for a terminal), and `runc start`. runc leaves, and the container's process becomes the
shim's child (the shim is a child subreaper): the shim reaps it, as with the built-in.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import subprocess
from typing import Iterator

from services.common import runc, sockets
from services.common.wire import schema
from services.kernel.syscalls import CLONE_NEWNS, MNT_DETACH, MS_BIND, MS_REC, MS_SLAVE, SYS, Syscalls

from . import copyup, shared_shm, terminal, user
from .base import StartError, Stdio
from .rootfs import open_subpath

TIMEOUT = runc.TIMEOUT
SUBPATHS = "subpaths"   # under the bundle: the points runc binds volumes' Subpaths from


def start(bundle: str, config: dict, stdio: Stdio, container_id: str, exec_root: str, overlay: dict) -> int:
    """Start the bundle's process under runc; return its pid. The caller is a child
    subreaper, single-threaded (its mount namespace is made here)."""
    rootfs = os.path.join(bundle, config["root"]["path"])
    SYS.unshare(CLONE_NEWNS)
    SYS.mount(None, "/", None, MS_REC | MS_SLAVE)  # the host's changes still reach the shim
    SYS.mount("overlay", rootfs, "overlay", 0,
              f"lowerdir={overlay['lower']},upperdir={overlay['upper']},workdir={overlay['work']}")
    _fill_volumes(config, rootfs)
    spec = _resolved(config, rootfs)
    bind_subpaths(spec, bundle)
    donor = shared_shm.donor(config)
    if donor:
        _attach_shm(spec, donor, bundle)
    with open(os.path.join(bundle, "config.json.tmp"), "w") as fh:
        fh.write(json.dumps(spec))
    os.replace(os.path.join(bundle, "config.json.tmp"), os.path.join(bundle, "config.json"))
    runc.delete(exec_root, container_id)  # what a shim killed before could leave
    log = os.path.join(bundle, "runc.log")
    pid_file = os.path.join(bundle, "runc.pid")
    args = ["--log", log, "--log-format", "json", "create", "--bundle", bundle, "--pid-file", pid_file]
    with _console(stdio, exec_root, container_id) as console:
        if console is not None:
            args += ["--console-socket", console[0]]
            io = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        else:
            io = {"stdin": stdio.stdin, "stdout": stdio.stdout, "stderr": stdio.stderr}
        created = subprocess.run(runc.command(exec_root, *args, container_id), timeout=TIMEOUT, **io)
        if created.returncode != 0:
            raise failure(log)
        if console is not None:
            _pass_master(console[1], stdio.console, terminal.size_of(config["process"]))
    started = subprocess.run(runc.command(exec_root, "--log", log, "--log-format", "json", "start", container_id),
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             timeout=TIMEOUT)
    if started.returncode != 0:
        runc.delete(exec_root, container_id)
        raise failure(log)
    with open(pid_file) as fh:
        return int(fh.read().strip())


def _fill_volumes(config: dict, rootfs: str) -> None:
    """The volumes that get the image's files (copyup), from the rootfs the shim mounted."""
    root_fd = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        copyup.fill(root_fd, config)
    finally:
        os.close(root_fd)


def _attach_shm(spec: dict, donor: int, bundle: str) -> None:
    """Another container's /dev/shm (IpcMode container:), cloned onto `<bundle>/shm` in the
    shim's own mount namespace, as the source runc binds."""
    tree = shared_shm.clone(donor)
    try:
        path = os.path.join(bundle, "shm")
        os.makedirs(path, mode=0o700, exist_ok=True)
        SYS.move_mount(tree, path)
    finally:
        os.close(tree)
    for m in spec.get("mounts") or []:
        if m["destination"] == shared_shm.DEV_SHM:
            m["source"] = path


def bind_subpaths(spec: dict, bundle: str, kernel: Syscalls = SYS) -> None:
    """Each bind of a volume's Subpath, walked now from the volume's root following no symlink
    (open_subpath, as the built-in runtime does), bound from the fd it reached onto
    `<bundle>/subpaths/N` in the shim's own mount namespace (runc's too; nobody else's): runc
    binds that path, which no container can swap for a symlink as it could a path of the
    volume. `unbind_subpaths` unmounts them once the container is gone."""
    for n, m in enumerate(spec.get("mounts") or []):
        if not m.get(schema.MOUNT_SUBPATH):
            continue
        fd = open_subpath(m)
        try:
            point = os.path.join(bundle, SUBPATHS, str(n))
            os.makedirs(os.path.dirname(point), mode=0o700, exist_ok=True)
            _remove_point(point)   # an earlier start's, maybe of the other kind
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                os.mkdir(point, 0o700)
            else:
                os.close(os.open(point, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o600))
            kernel.mount(f"/proc/self/fd/{fd}", point, None, MS_BIND | MS_REC)
        finally:
            os.close(fd)
        m["source"] = point
        del m[schema.MOUNT_SUBPATH]


def _remove_point(path: str) -> None:
    try:
        if os.path.isdir(path):
            os.rmdir(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass


def unbind_subpaths(bundle: str, kernel: Syscalls = SYS) -> None:
    """Unmount what bind_subpaths bound (in the shim's namespace, which dies with it anyway)."""
    try:
        names = os.listdir(os.path.join(bundle, SUBPATHS))
    except FileNotFoundError:
        return
    for name in names:
        with contextlib.suppress(OSError):   # EINVAL: not mounted (an earlier start's point)
            kernel.umount2(os.path.join(bundle, SUBPATHS, name), MNT_DETACH)


def _resolved(config: dict, rootfs: str) -> dict:
    """The spec with Docker's User as runc wants it: numbers, read in the container's files,
    and HOME in the environment."""
    spec = json.loads(json.dumps(config))
    process = spec["process"]
    uid, gid, groups, home = user.resolve(process, spec.get("annotations") or {}, root=rootfs)
    process["user"] = {"uid": uid, "gid": gid, "additionalGids": groups}  # as the built-in's setgroups
    if not any(e.startswith("HOME=") for e in process.get("env") or []):
        process["env"] = [*(process.get("env") or []), f"HOME={home}"]
    return spec


@contextlib.contextmanager
def _console(stdio: Stdio, exec_root: str, container_id: str) -> Iterator[tuple[str, socket.socket] | None]:
    """A listening socket that runc sends a terminal's master to, if the container has one
    (named by the short id, as a shim's: it fits wherever a shim's does)."""
    if not stdio.tty:
        yield None
        return
    path = sockets.socket_path(exec_root, sockets.console_name(container_id))
    with console_socket(path) as listener:
        yield path, listener


@contextlib.contextmanager
def console_socket(path: str) -> Iterator[socket.socket]:
    """A unix socket listening at `path` (for `runc --console-socket`), removed at the end."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as listener:
        listener.bind(path)
        try:
            listener.listen(1)
            listener.settimeout(TIMEOUT)
            yield listener
        finally:
            os.unlink(path)


def receive_master(listener: socket.socket, timeout: float | None = TIMEOUT) -> int:
    """The terminal's master runc sent to `listener` (timeout 0: sent already, as it is
    once a `runc exec --detach` has exited; nothing then is an error, never a wait)."""
    try:
        listener.settimeout(timeout)
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(timeout)
            _, fds, _, _ = socket.recv_fds(conn, 4096, 4)
    except (BlockingIOError, socket.timeout):
        raise StartError("runc sent no terminal") from None
    if not fds:
        raise StartError("runc sent no terminal")
    for extra in fds[1:]:
        os.close(extra)
    os.set_inheritable(fds[0], False)
    return fds[0]


def _pass_master(listener: socket.socket, console: int, size: tuple[int, int] = terminal.DEFAULT_SIZE) -> None:
    """Take the terminal's master from runc and hand it on as the built-in runtime does."""
    master = receive_master(listener)
    try:
        SYS.set_window_size(master, *size)  # before `runc start` runs the process
        with socket.socket(fileno=os.dup(console)) as out:
            socket.send_fds(out, [b"m"], [master])
    finally:
        os.close(master)


def failure(log: str, since: int = 0, fallback: str = "runc failed") -> StartError:
    """runc's last error logged past byte `since` of its log (`fallback` if none), with a
    shell's exit code for it (as the docker CLI reads it)."""
    message = fallback
    try:
        with open(log) as fh:
            fh.seek(since)
            for line in fh:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("level") in ("error", "fatal") and entry.get("msg"):
                    message = entry["msg"]
    except OSError:
        pass
    code = 127 if ("executable file not found" in message or "no such file or directory" in message) else \
        126 if "permission denied" in message else 127
    return StartError(message, code)
