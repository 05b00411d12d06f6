"""The shim: one detached process per running container (started by services.shim.launch).

It owns the container: it holds its stdio (pipes, or a pty when the config asks for a
terminal), writes every byte to the log (services.shim.logwriter, rotated as its driver
says) and to attached clients, feeds stdin, reaps it and its orphans (child subreaper),
and records its exit durably in
`<container dir>/exit.json` before it says so to anyone. It serves the shim.* methods
on `<exec-root>/sock/shim-<id>.sock`, outlives any restart of the services, and exits
shortly after its container does.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import time
from typing import BinaryIO

from services.common import container_files, errors, jsonlog, timefmt, wire
# The transport, imported here rather than on first use: the zygote loads this module once
# for every shim to come, so no shim loads ZeroMQ and msgpack after its container started.
from services.common.wire.server import ServiceServer
from services.kernel.syscalls import SYS

from . import dns, probes
from .execs import Execs
from .container import Container

log = logging.getLogger("shim")

# After the container exits, the shim lingers this long for late callers (wait, attach).
LINGER_SECONDS = 2.0
# ... and longer while an attached client still reads, unless it has read nothing for this long.
ATTACH_STALL_SECONDS = 60.0


class Shim(Container):
    """The running shim: the container launched, now served over the wire until it exits."""

    def __init__(self, launched: Container, report: BinaryIO | None = None):
        self.__dict__.update(launched.__dict__)
        self.report = report  # the starter's channel: the exit record goes there too
        self.exit: dict | None = None
        self.exited: asyncio.Event | None = None       # made in the loop
        self.output_done: asyncio.Event | None = None
        self.settled: asyncio.Event | None = None      # exited, and its output all logged
        self.log_grew: asyncio.Event | None = None     # set at each write to the log, and at its end
        self.log_failing = False                       # the last write to the log failed
        self.attached = 0                              # attach calls in progress
        self.attach_progress = 0.0                     # when one last sent something
        self.reaped = probes.Reaped()                  # the shim's other children (probes)
        self.probes_run = 0
        self.execs = Execs(self)                       # processes exec'd in the container

    def serve(self) -> None:
        asyncio.run(self.run())

    # ----------------------------------------------------------------- loop

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        # First, as the container may already be asking (its queries wait in the sockets).
        resolver = await dns.start_for_container(self.dns_sockets, self.names_path)
        self.exited = asyncio.Event()
        self.output_done = asyncio.Event()
        self.settled = asyncio.Event()
        self.log_grew = asyncio.Event()
        server = ServiceServer(self.settings.exec_root, wire.shim_name(self.id), kind="shim")
        for name in ("state", "wait", "kill", "resize", "attach", "logs", "probe"):
            server.handle(f"shim.{name}")(getattr(self, name))
        for name in ("exec", "exec_state", "exec_wait", "exec_resize"):
            server.handle(f"shim.{name}")(getattr(self, name))
        serving = asyncio.ensure_future(server.serve())
        self._tell_serving()
        for fd in self.outputs:
            loop.add_reader(fd, self._readable, fd)
        loop.add_signal_handler(signal.SIGCHLD, self._reap)
        self._reap()  # it may have died before the handler was in place
        await self.exited.wait()
        if resolver is not None:   # its sockets would keep the namespace alive past the exit
            resolver.close()
        # The exit is told once the output is in the log, so that whoever follows the log
        # until the container stops sees all of it (unless something it left keeps writing).
        try:
            await asyncio.wait_for(self.output_done.wait(), 5)
        except asyncio.TimeoutError:
            pass
        self.settled.set()
        self._tell_starter()
        await asyncio.sleep(LINGER_SECONDS)
        # An attached client still reading the output keeps the shim, unless it stopped reading.
        while self.attached and time.monotonic() - self.attach_progress < ATTACH_STALL_SECONDS:
            await asyncio.sleep(0.1)
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
                self.log_grew.set()
            return
        try:
            self.log.write(self.outputs[fd] or 1, data)
        except OSError as exc:
            # A full disk: the output is dropped, never left to block the container.
            if not self.log_failing:
                log.warning("the log cannot be written (%s): output is dropped until it can", exc)
                self.log_failing = True
            return
        finally:
            if self.log.held is not None:
                self._hold_output(self.log.held)
        if self.log_failing:
            log.warning("the log is written again")
            self.log_failing = False
        self.log_grew.set()

    def _hold_output(self, until: asyncio.Future) -> None:
        """Read no more output until the log may rotate again (its file before is being
        gzipped): the container waits meanwhile, as Docker's log writer makes it wait."""
        loop = asyncio.get_running_loop()
        for fd in self.outputs:
            loop.remove_reader(fd)

        def resume(_) -> None:
            self.log_grew.set()   # what waited is written now
            for fd in self.outputs:
                loop.add_reader(fd, self._readable, fd)
        until.add_done_callback(resume)

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
            elif pid != self.pid:
                self.reaped.reaped(pid, status)

    def _finish(self, code: int, error: str) -> None:
        record = wire.exit_record(code, timefmt.now(), self.cgroup.oom_killed(), error)
        self.exit = record
        self.clean_up()
        try:
            container_files.write_exit(container_files.paths(self.settings.data_root, self.id)["exit"], record)
        except OSError as exc:
            # Its directory is gone (the container was removed under it): callers still
            # get the record over the socket.
            log.warning("recording the exit: %s", exc)
        if self.stdin_w is not None:
            os.close(self.stdin_w)
            self.stdin_w = None
        self.exited.set()
        if not self.outputs:
            self.output_done.set()

    def _tell_serving(self) -> None:
        """Its socket is bound: whoever waits to attach to the container may come now."""
        if self.report is not None:
            try:
                self.report.write(wire.encode_serving())
                self.report.flush()
            except OSError:
                self.report = None  # the starter is gone (a restarted supervisor asks with shim.wait)

    def _tell_starter(self) -> None:
        if self.report is not None:
            try:
                self.report.write(wire.encode_exit(self.exit))
                self.report.close()
            except OSError:
                pass  # the starter is gone (a restarted supervisor asks with shim.wait)
            self.report = None

    # -------------------------------------------------------------- methods

    async def state(self, call: wire.Call) -> dict:
        return {"pid": self.pid, "running": self.exit is None, "started_at": self.started_at,
                "exit": self.exit}

    def _mine(self, call: wire.Call) -> None:
        if call.params["pid"] != self.pid:
            raise errors.Conflict(f"this shim ran pid {self.pid}, an earlier start of the container")

    async def wait(self, call: wire.Call) -> dict:
        self._mine(call)
        await self.settled.wait()
        return self.exit

    async def kill(self, call: wire.Call) -> dict:
        self._mine(call)
        if self.exit is None:
            try:
                os.kill(self.pid, call.params["signal"])
            except ProcessLookupError:
                pass
        return {}

    async def resize(self, call: wire.Call) -> dict:
        self._mine(call)
        if self.tty and self.outputs:
            fd = next(iter(self.outputs))
            SYS.set_window_size(fd, call.params["height"], call.params["width"])
        return {}

    async def probe(self, call: wire.Call) -> dict:
        """Run a command in the container to its end (a health check's probe)."""
        self._mine(call)
        if self.exit is not None:
            raise errors.Conflict(f"container {self.id[:12]} is not running")
        return await probes.run(self, call.params["args"], call.params["timeout"])

    async def exec(self, call: wire.Call):
        """Run a command in the container (docker exec): its pid, output, exit code."""
        self._mine(call)
        p = call.params
        async with contextlib.aclosing(self.execs.run(p["exec_id"], p["config"], p["detach"], call.upload)) as chunks:
            async for chunk in chunks:
                yield chunk

    async def exec_state(self, call: wire.Call) -> dict:
        self._mine(call)
        return self.execs.state(call.params["exec_id"])

    async def exec_wait(self, call: wire.Call) -> dict:
        """The exec's end, once it has ended (the supervisor's watch of it)."""
        self._mine(call)
        return await self.execs.wait(call.params["exec_id"])

    async def exec_resize(self, call: wire.Call) -> dict:
        self._mine(call)
        await self.execs.resize(call.params["exec_id"], call.params["height"], call.params["width"])
        return {}

    async def _grew(self) -> bool:
        """Until the log grows (True), or the output has ended and it will not (False)."""
        if self.output_done.is_set():
            return False
        self.log_grew.clear()
        await self.log_grew.wait()
        return True

    async def _follow(self, fds: set[int], **query):
        """Chunks of the log, as jsonlog.read gives them, across its rotations; a reader keeps
        the shim lingering after its container's exit while it still reads."""
        self.attached += 1
        view = self.log.reader()
        try:
            async for meta, chunk in jsonlog.read(view, fds, **query):
                yield meta, chunk
                self.attach_progress = time.monotonic()
        finally:
            view.close()
            self.attached -= 1

    async def attach(self, call: wire.Call):
        """The container's output from its log: what is there already if `logs`, then what
        comes while `stream`, until the output ends; and its stdin, from the upload."""
        self._mine(call)
        p = call.params
        fds = {fd for fd, on in ((1, p["stdout"]), (2, p["stderr"])) if on}
        feeder = asyncio.ensure_future(self._feed_stdin(call.upload, p["stdin"]))
        try:
            async for meta, chunk in self._follow(fds, at_end=not p["logs"], tty=self.tty,
                                                  grew=self._grew if p["stream"] else None):
                yield {"fd": meta["fd"]}, chunk
        finally:
            feeder.cancel()

    async def logs(self, call: wire.Call):
        """The container's log, followed until its output ends (docker logs -f); first an empty
        chunk once where it starts is fixed (jsonlog.read's `started`)."""
        self._mine(call)
        p = call.params
        fds = {fd for fd, on in ((1, p["stdout"]), (2, p["stderr"])) if on}
        async for item in self._follow(fds, tail=p["tail"], since_ns=p["since_ns"], until_ns=p["until_ns"],
                                       timestamps=p["timestamps"], details=p["details"], grew=self._grew,
                                       started=True):
            yield item

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
        # The end of the caller's stdin closes the container's with StdinOnce (as dockerd: a
        # terminal's is left as it is, the api ends such an attach instead).
        if wanted and self.stdin_once and not self.tty and self.stdin_w is not None:
            os.close(self.stdin_w)
            self.stdin_w = None
