"""The shim's first moments: start the container with as little loaded as possible.

`python -m services.shim --config DAEMON_JSON --id ID` runs this. The first process
forks the shim proper into a new session and exits; the shim makes the container's
stdio and cgroup, starts its process with the built-in runtime, writes its start report
to its inherited stdout (one JSON line: wire.STARTED, or wire.START_FAILED). Only then
does it load the event loop and the wire's transport (services.shim.shim), so a
container's start does not wait for them. The same channel later carries a second
line, the exit record (wire.EXIT), and closes: whoever started the container learns of
its exit without connecting to the shim (`shim.wait` is for those who did not start it).
The schema (services.common.wire.schema) declares both lines and the annotations read here.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys

import setproctitle

from services.common import errors, timefmt
from services.common.config import Settings
from services.common.wire import schema
from services.kernel import devices
from services.kernel.cgroups import Cgroup
from services.kernel.syscalls import SYS

from . import runtime
from .runtime import runc

log = logging.getLogger("shim")


def container_dir(settings: Settings, container_id: str) -> str:
    return os.path.join(settings.data_root, "containers", container_id)


def exit_path(settings: Settings, container_id: str) -> str:
    return os.path.join(container_dir(settings, container_id), "exit.json")


def write_exit(path: str, record: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(schema.encode_exit(record))
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
        with open(path, "rb") as fh:
            return schema.decode_exit(fh.read())
    except (OSError, errors.BadParameter):
        return None


class Container:
    """A container being started: its config, its stdio, its process."""

    def __init__(self, settings: Settings, container_id: str, config: dict):
        self.settings = settings
        self.id = container_id
        self.config = config
        notes = config.get("annotations") or {}
        self.tty = bool(config["process"].get("terminal"))
        self.open_stdin = notes.get(schema.ANNOTATION_OPEN_STDIN) == schema.ANNOTATION_TRUE
        self.stdin_once = notes.get(schema.ANNOTATION_STDIN_ONCE) == schema.ANNOTATION_TRUE
        self.log_path = notes[schema.ANNOTATION_LOG_PATH]
        self.runc = notes.get(schema.ANNOTATION_RUNTIME) == "runc"
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
        if not self.runc:  # runc makes the cgroup itself, from the same linux.resources
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
        overlay = {"lower": notes[schema.ANNOTATION_LOWERDIR], "upper": notes[schema.ANNOTATION_UPPERDIR],
                   "work": notes[schema.ANNOTATION_WORKDIR]}
        bundle = os.path.dirname(self.log_path)
        try:
            if self.runc:
                self.pid = runc.start(bundle, self.config, stdio, self.id, self.settings.exec_root, overlay)
            else:
                self.pid = runtime.start(bundle, self.config, self.cgroup, stdio, overlay)
            if console is not None:
                console.settimeout(5)
                _, fds, _, _ = socket.recv_fds(console, 16, 1)
                master = fds[0]  # its size set already (runtime.terminal.DEFAULT_SIZE)
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

    def clean_up(self) -> None:
        """Once its process is gone: its cgroup, and what runc keeps of it."""
        try:
            self.cgroup.destroy()
        except OSError as exc:
            log.warning("removing the cgroup: %s", exc)
        if self.runc:
            try:
                runc.delete(self.settings.exec_root, self.id)
            except (OSError, subprocess.SubprocessError) as exc:
                log.warning("runc delete: %s", exc)

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
    run(settings, args.id, os.fdopen(os.dup(1), "wb"))


def run(settings: Settings, container_id: str, report) -> None:
    """Fork the shim of `container_id` into a session of its own and leave (the caller,
    the supervisor, reaps this process at once; the shim lives on)."""
    if os.fork() != 0:
        report.close()
        os._exit(0)
    become(settings, container_id, report)


def become(settings: Settings, container_id: str, report) -> None:
    """Become the shim of `container_id`, in a session of its own; report its start to
    `report` (a binary file: the start channel). Never returns."""
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
    SYS.set_child_subreaper()
    with open(os.path.join(cdir, "config.json")) as fh:
        config = json.load(fh)
    shim = Container(settings, container_id, config)
    try:
        shim.start()
    except runtime.StartError as exc:
        report.write(schema.encode_report({"error": str(exc), "exit_code": exc.exit_code}))
        report.close()
        shim.clean_up()
        os._exit(0)
    except Exception as exc:
        log.exception("start failed")
        report.write(schema.encode_report({"error": f"starting the container failed: {exc}", "exit_code": 128}))
        report.close()
        shim.clean_up()
        os._exit(0)
    report.write(schema.encode_report({"pid": shim.pid, "started_at": shim.started_at, "shim_pid": os.getpid()}))
    report.flush()
    from .shim import Shim  # the event loop and the wire, now that the container runs
    Shim(shim, report).serve()
    os._exit(0)
