"""Running one more process inside a running container (a health check's probe): in its
cgroup and namespaces, as its user, with its environment, capabilities and seccomp filter.

The built-in runtime forks the process into the container's pid namespace (the shim's
thread joins it for its children for that one fork), and the process joins the
container's cgroup and its other namespaces (the mount namespace last: until then /proc
is the host's); runc does the same with `runc exec --detach`. Either way the process is
the shim's child (with runc, as the shim is a child subreaper), and the shim reaps it
with the container's other processes.
"""

from __future__ import annotations

import json
import os

from services.common import runc
from services.kernel import seccomp
from services.kernel.cgroups import Cgroup
from services.kernel.syscalls import CLONE_NEWPID, SYS, Syscalls

from . import init, user
from . import runc as runc_runtime
from .base import StartError, Stdio, default_signals, exec_or_report, read_to_end, report

# Joined in this order: the mount namespace last, as its /proc is the container's (the cgroup
# one after the cgroup is joined: a private one is rooted at the container's cgroup).
NAMESPACES = ("ipc", "uts", "net", "pid", "cgroup", "mnt")


def spawn(container_pid: int, config: dict, args: list[str], stdio: int | Stdio, cgroup: Cgroup,
          kernel: Syscalls = SYS) -> int:
    """Start `args` in the container whose init is `container_pid`; its pid (the shim's
    child, reaped with its others). `stdio`: an fd its stdout and stderr go to (stdin
    /dev/null: a probe), or a `Stdio` (stdin -1: /dev/null); with `tty` its three are one
    pty slave, made its controlling terminal. `config` is the bundle's, or a copy whose
    process (user, env, cwd, capabilities) and linux.seccomp an exec changed."""
    if isinstance(stdio, int):
        stdio = Stdio(-1, stdio, stdio, False)
    profile = config["linux"].get("seccomp")
    program = seccomp.compile_profile(profile) if profile else None
    ns_fds = [os.open(f"/proc/{container_pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC) for name in NAMESPACES]
    own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    err_r, err_w = os.pipe()
    try:
        # Born in the container's pid namespace: this thread's next child goes there (the
        # others' and this one's afterwards do not: see the finally).
        kernel.setns(ns_fds[NAMESPACES.index("pid")], CLONE_NEWPID)
        pid = os.fork()
        if pid == 0:
            try:
                os.close(err_r)
                cgroup.add(os.getpid())   # its pid as the container's namespace sees it
                for name, fd in zip(NAMESPACES, ns_fds):
                    if name != "pid":
                        kernel.setns(fd, 0)
                os.chdir("/")
            except BaseException as exc:  # report and leave: nothing here may return to the shim
                report(err_w, f"{exc}")
                os._exit(127)
            _run(config, args, stdio, program, err_w, kernel)   # never returns
    except BaseException:
        os.close(err_r)
        raise
    finally:
        try:
            kernel.setns(own_pid_ns, CLONE_NEWPID)
        finally:
            for fd in (*ns_fds, own_pid_ns, err_w):
                os.close(fd)
    error = read_to_end(err_r)
    if error:
        message = error.decode(errors="replace")
        # The shell's code _run exited with (it is the shim's to reap, later).
        code = 126 if "permission denied" in message or "working directory" in message else 127
        raise StartError(message, code)
    return pid


def _run(config: dict, args: list[str], stdio: Stdio, program: bytes | None, err_w: int,
         kernel: Syscalls) -> None:
    """The process, from its fork to its exec (in the container's namespaces already)."""
    try:
        process = config["process"]
        os.setsid()
        stdin = stdio.stdin
        if stdin < 0:
            stdin = os.open("/dev/null", os.O_RDONLY)
        # Onto 0-2 through fds above them, in case one of those is among 0-2 already.
        moved = [os.dup(fd) for fd in (stdin, stdio.stdout, stdio.stderr)]
        for target, fd in enumerate(moved):
            os.dup2(fd, target)
        if stdio.tty:
            kernel.set_controlling_terminal(0)
        os.closerange(3, err_w)
        os.closerange(err_w + 1, 65536)
        env, uid, gid, groups = user.identity(config)
        init.restrict(process, program, kernel)
        os.setgroups(groups)
        os.setgid(gid)
        os.setuid(uid)
        user.enter_cwd(process.get("cwd") or "/")
        # The shim ignores SIGPIPE (as Python does) and an ignored signal survives exec.
        default_signals()
        exec_or_report(args, dict(e.split("=", 1) if "=" in e else (e, "") for e in env), err_w)
    except BaseException as exc:
        report(err_w, str(exc) or type(exc).__name__)
        os._exit(exc.exit_code if isinstance(exc, StartError) else 127)


def runc_exec(bundle: str, container_id: str, exec_root: str, args: list[str], name: str,
              process: dict | None = None, console_socket: str | None = None) -> tuple[list[str], str]:
    """The command that runs `args` under runc (`runc exec --detach` of the bundle's own
    process spec, its user resolved to numbers at the start, or of `process`), and the file
    it writes the process's pid to. With `console_socket`, the process has a terminal, made
    by runc in the container's devpts, its master sent to that socket. `name` names its
    files in the bundle; `runc_exec_done` removes them."""
    if process is None:
        with open(os.path.join(bundle, "config.json")) as fh:
            process = json.load(fh)["process"]
    process = dict(process)
    process.update(args=args, terminal=console_socket is not None)
    if console_socket is None:
        process.pop("consoleSize", None)
    spec_path, pid_path = os.path.join(bundle, f"{name}.json"), os.path.join(bundle, f"{name}.pid")
    with open(spec_path, "w") as fh:
        json.dump(process, fh)
    console = ["--console-socket", console_socket] if console_socket is not None else []
    command = runc.command(exec_root, "--log", os.path.join(bundle, "runc.log"), "--log-format", "json", "exec",
                           "--detach", *console, "--process", spec_path, "--pid-file", pid_path, container_id)
    return command, pid_path


def runc_exec_done(pid_path: str) -> int | None:
    """The pid runc wrote (None if it wrote none); its files removed."""
    try:
        with open(pid_path) as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return None
    finally:
        for path in (pid_path, pid_path.removesuffix(".pid") + ".json"):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def runc_log_size(bundle: str) -> int:
    """Where runc's log ends now: `runc_error` reads what a `runc exec` adds after it."""
    try:
        return os.path.getsize(os.path.join(bundle, "runc.log"))
    except OSError:
        return 0


def runc_error(bundle: str, since: int, fallback: str) -> StartError:
    """runc's last error logged after `since` (runc_log_size before the exec), with a shell's
    exit code for it; `fallback` if it logged none."""
    return runc_runtime.failure(os.path.join(bundle, "runc.log"), since, fallback)
