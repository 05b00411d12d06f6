"""The built-in runtime: start the process of an OCI bundle in new namespaces on an overlay rootfs.

`start()` runs in the shim. It forks an intermediate that joins the cgroup and unshares
the namespaces, then forks the container's init (pid 1 of the new pid namespace) and
exits; the shim, a child subreaper, inherits the init. The init makes its mounts in
its own mount namespace (so nothing leaks onto the host and nothing needs unmounting),
pivots into the rootfs, takes its hostname, user and working directory, and execs.
Anything that fails before the exec is written to a close-on-exec pipe the shim reads.

Mount targets are reached with the same no-symlink walk as layer extraction, so an
image cannot aim a mount outside its rootfs.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import stat
import struct
import termios
from dataclasses import dataclass

from services.common import pathwalk

from . import seccomp, syscalls
from .cgroups import Cgroup

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
            ("urandom", 1, 9), ("tty", 5, 0))
_DEV_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
              ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"), ("core", "/proc/kcore"))

_MOUNT_FLAGS = {
    "ro": syscalls.MS_RDONLY, "nosuid": syscalls.MS_NOSUID, "nodev": syscalls.MS_NODEV,
    "noexec": syscalls.MS_NOEXEC, "bind": syscalls.MS_BIND, "rbind": syscalls.MS_BIND | syscalls.MS_REC,
    "strictatime": syscalls.MS_STRICTATIME,
}
_IGNORED_OPTIONS = {"rw", "private", "rprivate", "relatime", "dev", "suid", "exec"}


class StartError(Exception):
    """The container's process could not be started; the message says why, and the exit
    code is a shell's for it (127: no such command, 126: it cannot be run)."""

    def __init__(self, message: str, exit_code: int = 127):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Stdio:
    stdin: int     # fds the init dup2s onto 0, 1, 2 (not used with a terminal)
    stdout: int
    stderr: int
    tty: bool
    # With a terminal: a unix socket the init sends the pty's master over. The pty is made
    # inside the container's own devpts, so the container sees a terminal of its own.
    console: int = -1


TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431


def _terminal(console: int) -> None:
    """Make a pty in the container's devpts, send its master to the shim, take its slave."""
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
    number = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))[0]
    slave = os.open(f"/dev/pts/{number}", os.O_RDWR | os.O_NOCTTY)
    with socket.socket(fileno=os.dup(console)) as sock:
        socket.send_fds(sock, [b"m"], [master])
    os.close(master)
    os.close(console)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def start(bundle: str, config: dict, cgroup: Cgroup, stdio: Stdio, overlay: dict) -> int:
    """Start the bundle's process; return its pid. The caller must be a child subreaper."""
    profile = config["linux"].get("seccomp")
    try:
        program = seccomp.compile_profile(profile) if profile else None
    except seccomp.ProfileError as exc:
        raise StartError(str(exc)) from None
    err_r, err_w = os.pipe()  # both close-on-exec: a successful exec closes the write end
    pid_r, pid_w = os.pipe()
    intermediate = os.fork()
    if intermediate == 0:
        try:
            os.close(err_r)
            os.close(pid_r)
            cgroup.add(os.getpid())
            flags = 0
            for ns in config["linux"]["namespaces"]:
                flags |= syscalls.NAMESPACE_FLAGS[ns["type"]]
            syscalls.unshare(flags)
            init = os.fork()
            if init == 0:
                _init(bundle, config, stdio, overlay, program, err_w)  # never returns
            # Only the init holds the error pipe now: its exec ends it, not this exit.
            os.close(err_w)
            os.write(pid_w, str(init).encode())
            os._exit(0)
        except BaseException as exc:  # report and leave: nothing here may return to the shim
            _report(err_w, f"{exc}")
            os._exit(1)
    os.close(err_w)
    os.close(pid_w)
    # The intermediate is reaped with the shim's other children, not waited for here.
    raw = os.read(pid_r, 64)
    os.close(pid_r)
    error = b""
    while chunk := os.read(err_r, 65536):
        error += chunk
    os.close(err_r)
    if error or not raw:
        code = 127
        if raw:
            try:
                code = os.waitstatus_to_exitcode(os.waitpid(int(raw), 0)[1])
            except ChildProcessError:
                pass
        raise StartError(error.decode(errors="replace") or "the container's process did not start",
                         code if code in (126, 127) else 127)
    return int(raw)


def _report(fd: int, message: str) -> None:
    try:
        os.write(fd, message.encode(errors="replace")[:65000])
    except OSError:
        pass


def _init(bundle: str, config: dict, stdio: Stdio, overlay: dict, program: bytes | None,
          err_w: int) -> None:
    try:
        process = config["process"]
        os.setsid()
        if not stdio.tty:
            os.dup2(stdio.stdin, 0)
            os.dup2(stdio.stdout, 1)
            os.dup2(stdio.stderr, 2)
        rootfs = os.path.join(bundle, config["root"]["path"])
        syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)
        syscalls.mount("overlay", rootfs, "overlay", 0,
                       f"lowerdir={overlay['lower']},upperdir={overlay['upper']},workdir={overlay['work']}")
        root_fd = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        for m in config.get("mounts", []):
            _mount(root_fd, m)
        _devices(root_fd, config["linux"].get("devices") or [])
        os.close(root_fd)
        _loopback_up()
        os.chdir(rootfs)
        syscalls.pivot_root(".", ".")
        syscalls.umount2(".", syscalls.MNT_DETACH)
        os.chdir("/")
        _mask(config["linux"].get("maskedPaths") or [], config["linux"].get("readonlyPaths") or [])
        if stdio.tty:
            _terminal(stdio.console)
        if config["root"].get("readonly"):
            syscalls.mount(None, "/", None, syscalls.MS_REMOUNT | syscalls.MS_BIND | syscalls.MS_RDONLY)
        socket.sethostname(config.get("hostname") or "localhost")
        # Nothing of the shim's may reach the container beyond 0-2 (the error pipe closes on
        # exec), and nothing may be reached through /proc/self/fd before that: a working
        # directory of /proc/self/fd/N would otherwise be a directory of the host.
        os.closerange(3, err_w)
        os.closerange(err_w + 1, 65536)
        env = list(process.get("env") or [])
        uid, gid, groups, home = _user(process, config.get("annotations") or {})
        if not any(e.startswith("HOME=") for e in env):
            env.append(f"HOME={home}")
        cwd = process.get("cwd") or "/"
        _make_cwd(cwd)
        caps = (process.get("capabilities") or {}).get("bounding")
        if caps is not None:
            syscalls.limit_capabilities({syscalls.CAPABILITIES[c] for c in caps if c in syscalls.CAPABILITIES})
        if process.get("noNewPrivileges"):
            syscalls.set_no_new_privs()
        if program is not None:
            syscalls.install_seccomp(program)  # while it still has CAP_SYS_ADMIN, which that needs
        os.setgroups(groups)
        os.setgid(gid)
        os.setuid(uid)
        _enter_cwd(cwd)
        environ = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
        environ.setdefault("PATH", DEFAULT_PATH)
        args = process["args"]
        if not args:
            raise StartError("no command given to run")
        # Ignored signals survive exec, and a shell cannot trap one it was started ignoring:
        # the container starts with every signal at its default, none blocked.
        for number in range(1, signal.NSIG):
            if number not in (signal.SIGKILL, signal.SIGSTOP):
                try:
                    signal.signal(number, signal.SIG_DFL)
                except (OSError, ValueError):
                    pass
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        try:
            os.execvpe(args[0], args, environ)
        except FileNotFoundError:
            _report(err_w, f'exec: "{args[0]}": executable file not found in $PATH')
            os._exit(127)
        except PermissionError:
            _report(err_w, f'exec: "{args[0]}": permission denied')
            os._exit(126)
    except BaseException as exc:
        _report(err_w, str(exc) or type(exc).__name__)
        os._exit(exc.exit_code if isinstance(exc, StartError) else 127)


def _make_cwd(cwd: str) -> None:
    """Make the working directory if it is missing, as Docker does. This runs after
    pivot_root with the shim's fds closed, so no path leads out of the container's root
    (and _enter_cwd checks that none did)."""
    try:
        os.makedirs(cwd, mode=0o755, exist_ok=True)
    except OSError as exc:
        raise StartError(f"cannot make the working directory {cwd}: {exc.strerror}", 126) from None


def _enter_cwd(cwd: str) -> None:
    try:
        os.chdir(cwd)
        here = os.getcwd()
    except OSError as exc:
        raise StartError(f"chdir to the working directory {cwd}: {exc.strerror}", 126) from None
    if not here.startswith("/"):  # "(unreachable)/...": a directory outside the container
        raise StartError(f"the working directory {cwd} is outside the container's root", 126)


def _open_target(root_fd: int, dest: str, is_file: bool) -> int:
    """An O_PATH fd of the mount point `dest` inside the rootfs, made if missing."""
    parts = pathwalk.clean(dest)
    if not parts:
        return os.open(".", os.O_PATH | os.O_DIRECTORY, dir_fd=root_fd)
    parent = pathwalk.open_dir(root_fd, parts[:-1], True, dest)
    try:
        name = parts[-1]
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                raise StartError(f"mount point {dest} is a symlink in the image")
        except FileNotFoundError:
            if is_file:
                os.close(os.open(name, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW, 0o644, dir_fd=parent))
            else:
                os.mkdir(name, 0o755, dir_fd=parent)
        return os.open(name, os.O_PATH | os.O_NOFOLLOW, dir_fd=parent)
    finally:
        os.close(parent)


def _mount(root_fd: int, m: dict) -> None:
    flags, data = 0, []
    for option in m.get("options") or []:
        if option in _MOUNT_FLAGS:
            flags |= _MOUNT_FLAGS[option]
        elif option not in _IGNORED_OPTIONS:
            data.append(option)
    kind = m.get("type") or ("bind" if flags & syscalls.MS_BIND else "none")
    bind = bool(flags & syscalls.MS_BIND) or kind == "bind"
    source = m.get("source") or kind
    is_file = bind and os.path.exists(source) and not os.path.isdir(source)
    fd = _open_target(root_fd, m["destination"], is_file)
    try:
        target = f"/proc/self/fd/{fd}"
        if bind:
            syscalls.mount(source, target, None, syscalls.MS_BIND | (flags & syscalls.MS_REC))
            if flags & ~(syscalls.MS_BIND | syscalls.MS_REC):
                # The fd still names what lies under the new mount: look the path up again.
                top = _open_target(root_fd, m["destination"], is_file)
                try:
                    syscalls.mount(None, f"/proc/self/fd/{top}", None,
                                   syscalls.MS_REMOUNT | syscalls.MS_BIND | (flags & ~syscalls.MS_REC))
                finally:
                    os.close(top)
        else:
            syscalls.mount(source, target, kind, flags, ",".join(data) or None)
    finally:
        os.close(fd)


def _mask(masked: list[str], readonly: list[str]) -> None:
    """Hide the masked paths (files behind /dev/null, directories behind an empty read-only
    tmpfs) and make the read-only ones so; run inside the container, after pivot_root."""
    null = os.stat("/dev/null", follow_symlinks=False)
    if not stat.S_ISCHR(null.st_mode) or null.st_rdev != os.makedev(1, 3):
        raise StartError("/dev/null in the container is not the null device")
    for path in masked:
        try:
            st = os.stat(path, follow_symlinks=False)
        except (FileNotFoundError, PermissionError):
            continue
        if stat.S_ISDIR(st.st_mode):
            syscalls.mount("tmpfs", path, "tmpfs", syscalls.MS_RDONLY, None)
        else:
            syscalls.mount("/dev/null", path, None, syscalls.MS_BIND)
    for path in readonly:
        if not os.path.lexists(path):
            continue
        syscalls.mount(path, path, None, syscalls.MS_BIND | syscalls.MS_REC)
        syscalls.mount(None, path, None, syscalls.MS_REMOUNT | syscalls.MS_BIND | syscalls.MS_RDONLY
                       | syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC)


def _devices(root_fd: int, extra: list[dict]) -> None:
    """The spec's linux.devices, then the default nodes in /dev (a node already there, say
    a default one that privileged mode lists again, is left as it is)."""
    for device in extra:
        parts = pathwalk.clean(device["path"])
        kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK}[device["type"]]
        parent = pathwalk.open_dir(root_fd, parts[:-1], True, device["path"])
        try:
            mode = device.get("fileMode", 0o666) & 0o7777
            os.mknod(parts[-1], kind | mode, os.makedev(device["major"], device["minor"]), dir_fd=parent)
            os.chmod(parts[-1], mode, dir_fd=parent)  # not the umask's
            os.chown(parts[-1], device.get("uid", 0), device.get("gid", 0), dir_fd=parent,
                     follow_symlinks=False)
        except FileExistsError:
            pass
        finally:
            os.close(parent)
    dev = pathwalk.open_dir(root_fd, ["dev"], True, "/dev")
    try:
        for name, major, minor in _DEVICES:
            try:
                os.mknod(name, stat.S_IFCHR | 0o666, os.makedev(major, minor), dir_fd=dev)
                os.chmod(name, 0o666, dir_fd=dev)
            except FileExistsError:
                pass
        for name, target in _DEV_LINKS:
            try:
                os.symlink(target, name, dir_fd=dev)
            except FileExistsError:
                pass
    finally:
        os.close(dev)


def _loopback_up() -> None:
    SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, ifr)[:18])[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", flags | IFF_UP, b""))


def _user(process: dict, annotations: dict) -> tuple[int, int, list[int], str]:
    """Resolve Docker's User (name or uid[:gid], names looked up in the container's files)."""
    spec = annotations.get("org.dockyard.user", "")
    user = process.get("user") or {}
    uid, gid = int(user.get("uid", 0)), int(user.get("gid", 0))
    home = "/"
    passwd = _table("/etc/passwd")
    name, _, group = spec.partition(":")
    if name:
        row = next((r for r in passwd if r[0] == name), None) if not name.isdigit() else \
            next((r for r in passwd if r[2] == name), None)
        if row is not None:
            uid, gid, home = int(row[2]), int(row[3]), row[5] or "/"
        elif name.isdigit():
            uid, gid = int(name), 0 if not group else gid
        else:
            raise StartError(f"unable to find user {name}: no matching entries in passwd file")
    elif passwd:
        row = next((r for r in passwd if r[2] == str(uid)), None)
        if row is not None:
            home = row[5] or "/"
    groups_table = _table("/etc/group")
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            row = next((r for r in groups_table if r[0] == group), None)
            if row is None:
                raise StartError(f"unable to find group {group}: no matching entries in group file")
            gid = int(row[2])
    username = next((r[0] for r in passwd if r[2] == str(uid)), None)
    extra = sorted({int(r[2]) for r in groups_table
                    if username and len(r) > 3 and username in r[3].split(",") and r[2].isdigit()})
    return uid, gid, [g for g in extra if g != gid] + [gid], home


def _table(path: str) -> list[list[str]]:
    try:
        with open(path) as fh:
            return [line.rstrip("\n").split(":") for line in fh if line.strip() and not line.startswith("#")]
    except OSError:
        return []
