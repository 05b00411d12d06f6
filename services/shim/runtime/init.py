"""The container's init, from its fork to its exec: stdio, root, terminal, identity, limits.

It runs as pid 1 of the container's new pid namespace, in its cgroup and the namespaces
it made (services.shim.runtime.spawn), and never returns: it execs the bundle's process or reports why not
on the error pipe (close-on-exec, so a successful exec closes it) and exits.
"""

from __future__ import annotations

import os
import resource

from services.kernel import capabilities
from services.kernel.syscalls import SYS, Syscalls

from . import rootfs, terminal, user
from .base import StartError, Stdio, default_signals, exec_or_report, report


def restrict(process: dict, program: bytes | None, kernel: Syscalls = SYS) -> None:
    """Narrow what the process may do, while it still may: its capabilities (the bounding
    set), no_new_privs, and its seccomp filter (which needs CAP_SYS_ADMIN to load
    without no_new_privs, so before the process drops to its user)."""
    caps = (process.get("capabilities") or {}).get("bounding")
    if caps is not None:
        capabilities.limit(capabilities.numbers(caps), kernel)
    if process.get("noNewPrivileges"):
        kernel.set_no_new_privs()
    if program is not None:
        kernel.install_seccomp(program)


def limit(rlimits: list[dict], kernel: Syscalls = SYS) -> None:
    """The process's rlimits (set while it may still raise them: before it drops to its user)."""
    for rlimit in rlimits:
        kind = getattr(resource, rlimit["type"], None)
        if not rlimit["type"].startswith("RLIMIT_") or kind is None:
            raise StartError(f"unknown rlimit type {rlimit['type']!r}")
        # OCI writes unlimited as the largest uint64; Python's setrlimit as RLIM_INFINITY.
        soft, hard = (resource.RLIM_INFINITY if v >= 1 << 63 else v for v in (rlimit["soft"], rlimit["hard"]))
        try:
            kernel.setrlimit(kind, soft, hard)
        except (OSError, ValueError) as exc:
            raise StartError(f"setting {rlimit['type']}: {exc}") from None


def owns_network(config: dict) -> bool:
    """Whether the bundle makes a network namespace of its own (not the host's, nor another
    container's)."""
    return any(ns["type"] == "network" and not ns.get("path") for ns in config["linux"]["namespaces"])


def run(bundle: str, config: dict, stdio: Stdio, overlay: dict, program: bytes | None,
        err_w: int, kernel: Syscalls = SYS) -> None:
    try:
        process = config["process"]
        os.setsid()
        if not stdio.tty:
            os.dup2(stdio.stdin, 0)
            os.dup2(stdio.stdout, 1)
            os.dup2(stdio.stderr, 2)
        if owns_network(config):
            kernel.link_up("lo")   # a new network namespace's loopback starts down
        rootfs.enter(os.path.join(bundle, config["root"]["path"]), config, overlay, kernel)
        if stdio.tty:
            terminal.take(stdio.console, kernel, terminal.size_of(process))
        # Only in a UTS namespace of its own (without one, the bundle names none: the host's stays).
        if "uts" in {ns["type"] for ns in config["linux"]["namespaces"] if not ns.get("path")}:
            kernel.sethostname(config.get("hostname") or "localhost")
            if config.get("domainname"):
                kernel.setdomainname(config["domainname"])
        # Nothing of the shim's may reach the container beyond 0-2 (the error pipe closes on
        # exec), and nothing may be reached through /proc/self/fd before that: a working
        # directory of /proc/self/fd/N would otherwise be a directory of the host.
        os.closerange(3, err_w)
        os.closerange(err_w + 1, 65536)
        env, uid, gid, groups = user.identity(config)
        cwd = process.get("cwd") or "/"
        user.make_cwd(cwd)
        limit(process.get("rlimits") or [], kernel)
        restrict(process, program, kernel)
        os.setgroups(groups)
        os.setgid(gid)
        os.setuid(uid)
        user.enter_cwd(cwd)
        # config.json carries PATH always (the supervisor's bundle puts Docker's default in).
        environ = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
        args = process["args"]
        if not args:
            raise StartError("no command given to run")
        # Ignored signals survive exec, and a shell cannot trap one it was started ignoring:
        # the container starts with every signal at its default, none blocked.
        default_signals()
        exec_or_report(args, environ, err_w)
    except BaseException as exc:
        report(err_w, str(exc) or type(exc).__name__)
        os._exit(exc.exit_code if isinstance(exc, StartError) else 127)
