"""The shim's first moments: start the container with as little loaded as possible.

`python -m services.shim --config DAEMON_JSON --id ID` runs this. The first process
forks the shim proper into a new session and exits; the shim makes the container's
stdio and cgroup, starts its process with the built-in runtime, writes one JSON line
to its inherited stdout ({"pid", "started_at", "shim_pid"} or {"error", "exit_code"}).
Only then does it load the event loop and the wire (services.shim.shim), so a
container's start does not wait for them. The same channel later carries a second
line, the exit record, and closes: whoever started the container learns of its exit
without connecting to the shim (`shim.wait` is for those who did not start it).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import signal
import socket
import struct
import sys
import termios

import setproctitle

from services.common import timefmt
from services.common.config import Settings

from . import devices, runtime, syscalls
from .cgroups import Cgroup

log = logging.getLogger("shim")


def container_dir(settings: Settings, container_id: str) -> str:
    return os.path.join(settings.data_root, "containers", container_id)


def exit_path(settings: Settings, container_id: str) -> str:
    return os.path.join(container_dir(settings, container_id), "exit.json")


def write_exit(path: str, record: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(record, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dfd = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def read_exit(path: str) -> dict | None:
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


class Container:
    """A container being started: its config, its stdio, its process."""

    def __init__(self, settings: Settings, container_id: str, config: dict):
        self.settings = settings
        self.id = container_id
        self.config = config
        notes = config.get("annotations") or {}
        self.tty = bool(config["process"].get("terminal"))
        self.open_stdin = notes.get("org.dockyard.open-stdin") == "true"
        self.stdin_once = notes.get("org.dockyard.stdin-once") == "true"
        self.log_path = notes["org.dockyard.log-path"]
        self.cgroup = Cgroup(config["linux"]["cgroupsPath"])
        self.pid = 0
        self.started_at = ""
        self.outputs: dict[int, int] = {}   # our fd -> container fd number (1, 2; 0 for a tty)
        self.stdin_w: int | None = None
        self.log_fd = -1
        self.log_read_fd = -1

    def start(self) -> None:
        """Make the stdio, the cgroup and the process (blocking, before the loop runs)."""
        notes = self.config.get("annotations") or {}
        res = (self.config["linux"].get("resources") or {})
        memory = (res.get("memory") or {})
        self.cgroup.create(memory=int(memory.get("limit") or 0), memory_swap=int(memory.get("swap") or 0),
                           cpu_shares=int((res.get("cpu") or {}).get("shares") or 0),
                           pids=int((res.get("pids") or {}).get("limit") or 0),
                           devices=self._device_rules(res))
        self.log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        # Attach reads the log through this, so a --rm container's removal cannot take it away.
        self.log_read_fd = os.open(self.log_path, os.O_RDONLY | os.O_CLOEXEC)
        child_side = []
        console = None
        if self.tty:
            console, child_console = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            stdio = runtime.Stdio(-1, -1, -1, True, console=child_console.detach())
            child_side.append(stdio.console)
        else:
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            if self.open_stdin:
                in_r, self.stdin_w = os.pipe()
            else:
                in_r = os.open(os.devnull, os.O_RDONLY)
            stdio = runtime.Stdio(in_r, out_w, err_w, False)
            child_side += [in_r, out_w, err_w]
            self.outputs[out_r] = 1
            self.outputs[err_r] = 2
        overlay = {"lower": notes["org.dockyard.lowerdir"], "upper": notes["org.dockyard.upperdir"],
                   "work": notes["org.dockyard.workdir"]}
        bundle = os.path.dirname(self.log_path)
        try:
            self.pid = runtime.start(bundle, self.config, self.cgroup, stdio, overlay)
            if console is not None:
                console.settimeout(5)
                _, fds, _, _ = socket.recv_fds(console, 16, 1)
                master = fds[0]
                fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
                self.outputs[master] = 0  # a terminal has one stream
                if self.open_stdin:
                    self.stdin_w = os.dup(master)
        finally:
            for fd in child_side:
                os.close(fd)
            if console is not None:
                console.close()
        self.started_at = timefmt.now()
        for fd in self.outputs:
            os.set_blocking(fd, False)
        if self.stdin_w is not None:
            os.set_blocking(self.stdin_w, False)

    @staticmethod
    def _device_rules(resources: dict) -> list | None:
        """linux.resources.devices, checked (None when the spec has none: no rules)."""
        if resources.get("devices") is None:
            return None
        try:
            return devices.from_oci(resources["devices"])
        except ValueError as exc:
            raise runtime.StartError(f"config.json: {exc}") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.shim")
    parser.add_argument("--config", required=True)
    parser.add_argument("--id", required=True)
    args = parser.parse_args(argv)
    settings = Settings.from_runtime_file(args.config)
    run(settings, args.id, os.fdopen(os.dup(1), "w"))


def run(settings: Settings, container_id: str, report) -> None:
    """Fork the shim of `container_id` into a session of its own and leave (the caller,
    the supervisor, reaps this process at once; the shim lives on)."""
    if os.fork() != 0:
        report.close()
        os._exit(0)
    become(settings, container_id, report)


def become(settings: Settings, container_id: str, report) -> None:
    """Become the shim of `container_id`, in a session of its own; report its start to
    `report`. Never returns."""
    os.setsid()
    setproctitle.setproctitle(f"dockyard-shim {container_id}")
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    cdir = container_dir(settings, container_id)
    diag = os.open(os.path.join(cdir, "shim.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(diag, 1)
    os.dup2(diag, 2)
    os.close(devnull)
    os.close(diag)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, force=True,
                        format=f"%(asctime)s dockyard-shim[%(process)d] {container_id[:12]} %(levelname)s: %(message)s")
    syscalls.set_child_subreaper()
    with open(os.path.join(cdir, "config.json")) as fh:
        config = json.load(fh)
    shim = Container(settings, container_id, config)
    try:
        shim.start()
    except runtime.StartError as exc:
        report.write(json.dumps({"error": str(exc), "exit_code": exc.exit_code}) + "\n")
        report.close()
        _remove_cgroup(shim)
        os._exit(0)
    except Exception as exc:
        log.exception("start failed")
        report.write(json.dumps({"error": f"starting the container failed: {exc}", "exit_code": 128}) + "\n")
        report.close()
        _remove_cgroup(shim)
        os._exit(0)
    report.write(json.dumps({"pid": shim.pid, "started_at": shim.started_at, "shim_pid": os.getpid()}) + "\n")
    report.flush()
    from .shim import Shim  # the event loop and the wire, now that the container runs
    Shim(shim, report).serve()
    os._exit(0)


def _remove_cgroup(shim: "Container") -> None:
    try:
        shim.cgroup.destroy()
    except OSError as exc:
        log.warning("removing the cgroup: %s", exc)
