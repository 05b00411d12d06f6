"""The shim: one detached process per running container (started by services.shim.launch).

It owns the container: it holds its stdio (pipes, or a pty when the config asks for a
terminal), writes every byte to the json-file log and to attached clients, feeds stdin,
reaps it and its orphans (child subreaper), and records its exit durably in
`<container dir>/exit.json` before it says so to anyone. It serves the shim.* methods
on `<exec-root>/sock/shim-<id>.sock`, outlives any restart of the services, and exits
shortly after its container does.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import os
import signal
import struct
import termios

from services.common import errors, jsonlog, timefmt, wire

from .launch import Container, exit_path, write_exit

log = logging.getLogger("shim")

# Attach clients may fall this many chunks behind before they are cut off: the container
# itself is never slowed down by a reader.
SUBSCRIBER_BACKLOG = 1024
# After the container exits, the shim lingers this long for late callers (wait, attach).
LINGER_SECONDS = 2.0


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


class Shim(Container):
    """The running shim: the container launched, now served over the wire until it exits."""

    def __init__(self, launched: Container):
        self.__dict__.update(launched.__dict__)
        self.exit: dict | None = None
        self.exited: asyncio.Event | None = None       # made in the loop
        self.output_done: asyncio.Event | None = None
        self.subscribers: set[_Subscriber] = set()

    def serve(self) -> None:
        asyncio.run(self.run())

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
        self.exit = record
        try:
            self.cgroup.destroy()
        except OSError as exc:
            log.warning("removing the cgroup: %s", exc)
        try:
            write_exit(exit_path(self.settings, self.id), record)
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

    # -------------------------------------------------------------- methods

    async def state(self, call: wire.Call) -> dict:
        return {"pid": self.pid, "running": self.exit is None, "started_at": self.started_at,
                "exit": self.exit}

    def _mine(self, call: wire.Call) -> None:
        if call.params["pid"] != self.pid:
            raise errors.Conflict(f"this shim ran pid {self.pid}, an earlier start of the container")

    async def wait(self, call: wire.Call) -> dict:
        self._mine(call)
        await self.exited.wait()
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
            fcntl.ioctl(fd, termios.TIOCSWINSZ,
                        struct.pack("HHHH", call.params["height"], call.params["width"], 0, 0))
        return {}

    async def attach(self, call: wire.Call):
        self._mine(call)
        p = call.params
        sub = _Subscriber(p["stdout"], p["stderr"])
        offset = os.fstat(self.log_read_fd).st_size
        live = p["stream"] and self.exit is None and bool(self.outputs)
        if live:
            self.subscribers.add(sub)  # before the log is read: no byte falls between
        feeder = asyncio.ensure_future(self._feed_stdin(call.upload, p["stdin"]))
        try:
            if p["logs"]:
                for fd, data, _ in jsonlog.parse(os.pread(self.log_read_fd, offset, 0)):
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
