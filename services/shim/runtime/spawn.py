"""Starting a bundle's process: the fork of the container's init, born in its pid
namespace, which joins the cgroup and makes the other namespaces itself."""

from __future__ import annotations

import os

from services.kernel import seccomp
from services.kernel.cgroups import Cgroup
from services.kernel.syscalls import CLONE_NEWPID, NAMESPACE_FLAGS, SYS, Syscalls

from . import init
from .base import StartError, Stdio, read_to_end, report


def namespace_flags(config: dict) -> int:
    """The clone flags of the new namespaces the bundle's linux.namespaces asks for (those
    without a path: one with a path is joined)."""
    flags = 0
    for ns in config["linux"]["namespaces"]:
        if not ns.get("path"):
            flags |= NAMESPACE_FLAGS[ns["type"]]
    return flags


def enter_namespaces(config: dict, kernel: Syscalls = SYS) -> None:
    """In the init: join the namespaces the bundle names by path (another container's
    network), then put this process in new ones of the other kinds it lists, the pid one
    aside (the init is in it already: `pid_namespace_for_children`). A kind it does not
    list stays the host's."""
    for ns in config["linux"]["namespaces"]:
        if ns.get("path") and ns["type"] != "pid":
            fd = os.open(ns["path"], os.O_RDONLY | os.O_CLOEXEC)
            try:
                kernel.setns(fd, NAMESPACE_FLAGS[ns["type"]])
            finally:
                os.close(fd)
    kernel.unshare(namespace_flags(config) & ~CLONE_NEWPID)


def pid_namespace_for_children(config: dict, kernel: Syscalls = SYS) -> int | None:
    """In the shim, just before it forks the init: make the pid namespace the bundle asks
    for (a new one, or the one its path names) the one its next child is born in. Returns
    an fd of the shim's own pid namespace, which `restore_pid_namespace` must be given at
    once after the fork (a process whose children would be born in another pid namespace
    cannot start a thread); None when the bundle lists no pid namespace (the host's)."""
    for ns in config["linux"]["namespaces"]:
        if ns["type"] != "pid":
            continue
        own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        try:
            if ns.get("path"):
                fd = os.open(ns["path"], os.O_RDONLY | os.O_CLOEXEC)
                try:
                    kernel.setns(fd, CLONE_NEWPID)
                finally:
                    os.close(fd)
            else:
                kernel.unshare(CLONE_NEWPID)
        except BaseException:
            os.close(own)
            raise
        return own
    return None


def restore_pid_namespace(own: int | None, kernel: Syscalls = SYS) -> None:
    """The shim's next children are born in its own pid namespace again."""
    if own is not None:
        try:
            kernel.setns(own, CLONE_NEWPID)
        finally:
            os.close(own)


def start(bundle: str, config: dict, cgroup: Cgroup, stdio: Stdio, overlay: dict,
          kernel: Syscalls = SYS) -> int:
    """Start the bundle's process; return its pid. The caller must be a child subreaper
    with no thread but its main one."""
    profile = config["linux"].get("seccomp")
    try:
        program = seccomp.compile_profile(profile) if profile else None
    except seccomp.ProfileError as exc:
        raise StartError(str(exc)) from None
    err_r, err_w = os.pipe()  # close-on-exec: a successful exec closes the write end
    try:
        own_pid_ns = pid_namespace_for_children(config, kernel)
    except OSError as exc:
        os.close(err_r)
        os.close(err_w)
        raise StartError(f"entering the pid namespace: {exc}") from None
    # One fork, not two: the init is born in its pid namespace (pid 1 of a new one), and
    # makes the others itself. A fork of the shim costs milliseconds (its pages' tables).
    try:
        pid = os.fork()
        if pid == 0:
            try:
                os.close(err_r)
                cgroup.add(os.getpid())   # its pid as the pid namespace it is in sees it
                if config["process"].get("oomScoreAdj") is not None:
                    kernel.set_oom_score_adj(int(config["process"]["oomScoreAdj"]))
                enter_namespaces(config, kernel)
            except BaseException as exc:  # report and leave: nothing here may return to the shim
                report(err_w, f"{exc}")
                os._exit(127)
            init.run(bundle, config, stdio, overlay, program, err_w, kernel)  # never returns
    finally:
        restore_pid_namespace(own_pid_ns, kernel)
    os.close(err_w)
    error = read_to_end(err_r)
    if error:
        try:
            code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        except ChildProcessError:
            code = 127
        raise StartError(error.decode(errors="replace"), code if code in (126, 127) else 127)
    return pid
