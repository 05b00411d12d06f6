"""The shim: one detached process per running container.

It owns the container: it starts it (runtime.start), holds its stdio (pipes, or a pty
when the config asks for a terminal), writes every byte to the json-file log and to
attached clients, feeds stdin, reaps it and its orphans (child subreaper), and records
its exit durably in `<container dir>/exit.json` before it says so to anyone. It serves
the shim.* methods on `<exec-root>/sock/shim-<id>.sock` and outlives any restart of
the services; it exits shortly after its container does.

Started as `python -m services.shim --config DAEMON_JSON --id ID`: the first process
forks the shim proper into a new session and exits; the shim writes one JSON line to
its inherited stdout ({"pid", "started_at"} or {"error", "exit_code"}) and closes it.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
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

from services.common import errors, jsonlog, timefmt, wire
from services.common.config import Settings

from . import runtime, syscalls
from .cgroups import Cgroup

log = logging.getLogger("shim")

# Attach clients may fall this many chunks behind before they are cut off: the container
# itself is never slowed down by a reader.
SUBSCRIBER_BACKLOG = 1024
# After the container exits, the shim lingers this long for late callers (wait, attach).
LINGER_SECONDS = 2.0


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


class _Subscriber:
    def __init__(self, stdout: bool, stderr: bool):
        self.fds = {fd for fd, on in ((1, stdout), (2, stderr)) if on}
        self.queue: asyncio.Queue = asyncio.Queue()
        self.overflowed = False

    def offer(self, item) -> None:
        if self.overflowed:
            return
        if self.queue.qsize() >= SUBSCRIBER_BACKLOG:
            self.overflowed = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(item)


class Shim:
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
        self.exit: dict | None = None
        self.exited: asyncio.Event | None = None       # made in the loop
        self.output_done: asyncio.Event | None = None
        self.subscribers: set[_Subscriber] = set()
        self.outputs: dict[int, int] = {}   # our fd -> container fd number (1, 2; 0 for a tty)
        self.stdin_w: int | None = None
        self.log_fd = -1

    # ---------------------------------------------------------------- start

    def start(self) -> None:
        """Make the stdio, the cgroup and the process (blocking, before the loop runs)."""
        notes = self.config.get("annotations") or {}
        res = (self.config["linux"].get("resources") or {})
        memory = (res.get("memory") or {})
        self.cgroup.create(memory=int(memory.get("limit") or 0), memory_swap=int(memory.get("swap") or 0),
                           cpu_shares=int((res.get("cpu") or {}).get("shares") or 0))
        self.log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
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

    # ----------------------------------------------------------------- loop

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.exited = asyncio.Event()
        self.output_done = asyncio.Event()
        server = wire.ServiceServer(self.settings.exec_root, wire.shim_name(self.id), kind="shim")
        for name in ("state", "wait", "kill", "resize", "attach"):
            server.handle(f"shim.{name}")(getattr(self, name))
        serving = asyncio.ensure_future(server.serve())
        for fd in self.outputs:
            loop.add_reader(fd, self._readable, fd)
        loop.add_signal_handler(signal.SIGCHLD, self._reap)
        self._reap()  # it may have died before the handler was in place
        await self.exited.wait()
        try:
            await asyncio.wait_for(self.output_done.wait(), 5)
        except asyncio.TimeoutError:
            pass
        await asyncio.sleep(LINGER_SECONDS)
        serving.cancel()
        server.close()

    def _readable(self, fd: int) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:  # EIO: the tty's other side is gone
                log.warning("reading the container's output: %s", exc)
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(fd)
            os.close(fd)
            del self.outputs[fd]
            if not self.outputs:
                self.output_done.set()
                for sub in self.subscribers:
                    sub.offer(None)
            return
        stream = self.outputs[fd]
        os.write(self.log_fd, jsonlog.encode(stream or 1, data))
        for sub in self.subscribers:
            if stream in sub.fds or (stream == 0 and sub.fds):
                sub.offer((stream, data))

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.pid and self.exit is None:
                code = os.waitstatus_to_exitcode(status)
                code = 128 - code if code < 0 else code
                self._finish(code, "")

    def _finish(self, code: int, error: str) -> None:
        record = {"exit_code": code, "finished_at": timefmt.now(),
                  "oom_killed": self.cgroup.oom_killed(), "error": error}
        write_exit(exit_path(self.settings, self.id), record)
        self.exit = record
        try:
            self.cgroup.destroy()
        except OSError as exc:
            log.warning("removing the cgroup: %s", exc)
        if self.stdin_w is not None:
            os.close(self.stdin_w)
            self.stdin_w = None
        self.exited.set()
        if not self.outputs:
            self.output_done.set()

    # -------------------------------------------------------------- methods

    async def state(self, call: wire.Call) -> dict:
        return {"pid": self.pid, "running": self.exit is None, "started_at": self.started_at,
                "exit": self.exit}

    async def wait(self, call: wire.Call) -> dict:
        await self.exited.wait()
        return self.exit

    async def kill(self, call: wire.Call) -> dict:
        if self.exit is None:
            try:
                os.kill(self.pid, call.params["signal"])
            except ProcessLookupError:
                pass
        return {}

    async def resize(self, call: wire.Call) -> dict:
        if self.tty and self.outputs:
            fd = next(iter(self.outputs))
            fcntl.ioctl(fd, termios.TIOCSWINSZ,
                        struct.pack("HHHH", call.params["height"], call.params["width"], 0, 0))
        return {}

    async def attach(self, call: wire.Call):
        p = call.params
        sub = _Subscriber(p["stdout"], p["stderr"])
        offset = jsonlog.size(self.log_path)
        live = p["stream"] and self.exit is None and bool(self.outputs)
        if live:
            self.subscribers.add(sub)  # before the log is read: no byte falls between
        feeder = asyncio.ensure_future(self._feed_stdin(call.upload, p["stdin"]))
        try:
            if p["logs"]:
                for fd, data, _ in jsonlog.read(self.log_path, upto=offset):
                    if fd in sub.fds:
                        yield ({"fd": 0 if self.tty else fd}, data)
            while live:
                item = await sub.queue.get()
                if item is None:
                    if sub.overflowed:
                        raise errors.Unavailable("the attached client fell too far behind")
                    break
                fd, data = item
                yield ({"fd": fd}, data)
        finally:
            self.subscribers.discard(sub)
            feeder.cancel()

    async def _feed_stdin(self, upload, wanted: bool) -> None:
        loop = asyncio.get_running_loop()
        async for data in upload:
            if not wanted or self.stdin_w is None:
                continue
            view = memoryview(data)
            while view:
                try:
                    n = os.write(self.stdin_w, view)
                    view = view[n:]
                except BlockingIOError:
                    ready = loop.create_future()
                    loop.add_writer(self.stdin_w, ready.set_result, None)
                    try:
                        await ready
                    finally:
                        loop.remove_writer(self.stdin_w)
                except (BrokenPipeError, OSError):
                    return
        if wanted and self.stdin_once and self.stdin_w is not None:
            if self.tty:
                os.write(self.stdin_w, b"\x04")  # end of file, as a terminal says it
            else:
                os.close(self.stdin_w)
                self.stdin_w = None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.shim")
    parser.add_argument("--config", required=True)
    parser.add_argument("--id", required=True)
    args = parser.parse_args(argv)
    settings = Settings.from_runtime_file(args.config)
    if os.fork() != 0:
        os._exit(0)  # the supervisor reaps this one; the shim lives on, its own session
    os.setsid()
    setproctitle.setproctitle(f"dockyard-shim {args.id}")
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    report = os.fdopen(os.dup(1), "w")
    cdir = container_dir(settings, args.id)
    diag = os.open(os.path.join(cdir, "shim.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(diag, 1)
    os.dup2(diag, 2)
    os.close(devnull)
    os.close(diag)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format=f"%(asctime)s dockyard-shim[%(process)d] {args.id[:12]} %(levelname)s: %(message)s")
    syscalls.set_child_subreaper()
    with open(os.path.join(cdir, "config.json")) as fh:
        config = json.load(fh)
    shim = Shim(settings, args.id, config)
    try:
        shim.start()
    except runtime.StartError as exc:
        report.write(json.dumps({"error": str(exc), "exit_code": 127}) + "\n")
        report.close()
        shim.cgroup.destroy()
        os._exit(0)
    except Exception as exc:
        log.exception("start failed")
        report.write(json.dumps({"error": f"starting the container failed: {exc}", "exit_code": 128}) + "\n")
        report.close()
        shim.cgroup.destroy()
        os._exit(0)
    report.write(json.dumps({"pid": shim.pid, "started_at": shim.started_at, "shim_pid": os.getpid()}) + "\n")
    report.close()
    asyncio.run(shim.run())
    os._exit(0)
