"""Starting a bundle's process: the intermediate that joins the cgroup and unshares the
namespaces, and the fork of the container's init."""

from __future__ import annotations

import os

from services.kernel import seccomp
from services.kernel.cgroups import Cgroup
from services.kernel.syscalls import NAMESPACE_FLAGS, SYS, Syscalls

from . import init
from .base import StartError, Stdio, collect, report


def namespace_flags(config: dict) -> int:
    """The clone flags of the new namespaces the bundle's linux.namespaces asks for (those
    without a path: one with a path is joined)."""
    flags = 0
    for ns in config["linux"]["namespaces"]:
        if not ns.get("path"):
            flags |= NAMESPACE_FLAGS[ns["type"]]
    return flags


def enter_namespaces(config: dict, kernel: Syscalls = SYS) -> None:
    """Join the namespaces the bundle names by path (another container's network), then
    put this process in new ones of the other kinds it lists (its next child is the first
    process of a new pid namespace). A kind it does not list stays the host's."""
    for ns in config["linux"]["namespaces"]:
        if ns.get("path"):
            fd = os.open(ns["path"], os.O_RDONLY | os.O_CLOEXEC)
            try:
                kernel.setns(fd, NAMESPACE_FLAGS[ns["type"]])
            finally:
                os.close(fd)
    kernel.unshare(namespace_flags(config))


def start(bundle: str, config: dict, cgroup: Cgroup, stdio: Stdio, overlay: dict,
          kernel: Syscalls = SYS) -> int:
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
            if config["process"].get("oomScoreAdj") is not None:   # inherited by the init
                kernel.set_oom_score_adj(int(config["process"]["oomScoreAdj"]))
            enter_namespaces(config, kernel)
            pid = os.fork()
            if pid == 0:
                init.run(bundle, config, stdio, overlay, program, err_w, kernel)  # never returns
            # Only the init holds the error pipe now: its exec ends it, not this exit.
            os.close(err_w)
            os.write(pid_w, str(pid).encode())
            os._exit(0)
        except BaseException as exc:  # report and leave: nothing here may return to the shim
            report(err_w, f"{exc}")
            os._exit(1)
    os.close(err_w)
    os.close(pid_w)
    # The intermediate is reaped with the shim's other children, not waited for here.
    raw, error = collect(pid_r, err_r)
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
