"""A container being started by its shim: its stdio, its cgroup, its process under the
runtime its bundle names, and what is left to clean up once the process is gone."""

from __future__ import annotations

import logging
import os
import socket
import subprocess

from services.common import runc as runc_cli
from services.common import container_files, layout, timefmt
from services.common.config import Settings
from services.common.wire import schema
from services.kernel import devices
from services.kernel.cgroups import Cgroup

from . import held_ports, resolver_sockets, runtime
from .logwriter import ShimLog
from .runtime import runc

log = logging.getLogger("shim")


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
        self.bundle = container_files.container_dir(settings.data_root, container_id)
        # The log (its driver, rotation and attributes): written from the start, read by attach and logs -f.
        self.log = ShimLog(schema.decode_log_settings(notes.get(schema.ANNOTATION_LOG)),
                           notes[schema.ANNOTATION_LOG_PATH], os.path.join(settings.data_root, "tmp"))
        self.runc = notes.get(schema.ANNOTATION_RUNTIME) == "runc"
        self.cgroup = Cgroup(config["linux"]["cgroupsPath"])
        self.pid = 0
        self.started_at = ""
        self.outputs: dict[int, int] = {}   # our fd -> container fd number (1, 2; 0 for a tty)
        self.stdin_w: int | None = None
        self.names_path = container_files.paths(settings.data_root, container_id)["names"]
        self.dns_sockets = None   # its embedded resolver's, bound before its process starts
        self.held_ports: list[socket.socket] = []   # its published ports, held while it runs

    def start(self) -> None:
        """Make the stdio, the cgroup and the process (blocking, before the loop runs)."""
        notes = self.config.get("annotations") or {}
        if not self.runc:  # runc makes the cgroup itself, from the same linux.resources
            res = self.config["linux"].get("resources") or {}
            try:
                self.cgroup.create(res, devices=self._device_rules(res))
            except OSError as exc:   # a limit the kernel refuses: the start fails, as runc's does
                why = f"{exc.strerror}: {exc.filename}" if exc.filename else (exc.strerror or str(exc))
                raise runtime.StartError(f"setting the container's cgroup: {why}", exit_code=128) from None
        # Read through fds the shim holds, so a --rm container's removal cannot take it away.
        self.log.open()
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
        bundle = self.bundle
        self.dns_sockets = resolver_sockets.bind_for_container(self.config, layout.netns_dir(self.settings.exec_root))
        try:
            self.held_ports = held_ports.hold(notes.get(schema.ANNOTATION_PORTS) or "")
        except held_ports.PortTaken as exc:
            raise runtime.StartError(str(exc), exit_code=128) from None
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
        """Once its process is gone: its published ports, its cgroup, and what runc keeps of it."""
        held_ports.release(self.held_ports)
        try:
            self.cgroup.destroy()
        except OSError as exc:
            log.warning("removing the cgroup: %s", exc)
        if self.runc:
            try:
                runc_cli.delete(self.settings.exec_root, self.id)
            except (OSError, subprocess.SubprocessError) as exc:
                log.warning("runc delete: %s", exc)
            runc.unbind_subpaths(self.bundle)

    @staticmethod
    def _device_rules(resources: dict) -> list | None:
        """linux.resources.devices, checked (None when the spec has none: no rules)."""
        if resources.get("devices") is None:
            return None
        try:
            return devices.from_oci(resources["devices"])
        except ValueError as exc:
            raise runtime.StartError(f"config.json: {exc}") from None
