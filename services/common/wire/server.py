"""The service's side of the wire: a ROUTER socket dispatching calls to its handlers.

A `ServiceServer` checks each call's parameters, and each reply and chunk, against the
schema; it grants credit for uploads (`Upload`) and honours the caller's credit for
streams; it cancels the cancellable calls of a caller that says it gave up or that it
stops hearing from. A handler gets the `Call` it serves.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable

import zmq
import zmq.asyncio

from .. import errors
from ..sockets import socket_path
from . import framing
from .framing import endpoint, frames, unpack
from .loop_socket import LoopSocket
from .schema import METHODS, Method, check, method

log = logging.getLogger("services.common.wire")


Handler = Callable[..., Awaitable[Any] | AsyncIterator[Any]]


class Upload:
    """The bytes a caller uploads, read by a handler; grants credit as it reads."""

    def __init__(self, server: "ServiceServer", ident: bytes, req_id: int):
        self._server, self._ident, self._id = server, ident, req_id
        self._queue: asyncio.Queue = asyncio.Queue()
        self._read = 0
        self._done = False
        server._send(ident, {"t": "credit", "id": req_id, "n": framing.STREAM_WINDOW})

    def _feed(self, data: bytes | None) -> None:
        self._queue.put_nowait(data)

    def __aiter__(self) -> "Upload":
        return self

    async def __anext__(self) -> bytes:
        if self._done:
            raise StopAsyncIteration
        data = await self._queue.get()
        if data is None:
            self._done = True
            raise StopAsyncIteration
        self._read += 1
        if self._read >= framing.STREAM_WINDOW // 2:
            self._server._send(self._ident, {"t": "credit", "id": self._id, "n": self._read})
            self._read = 0
        return data


@dataclass
class Call:
    """What a handler knows of the call it serves."""

    method: Method
    params: dict
    upload: Upload | None = None


class _Outbound:
    def __init__(self, credit: int):
        self.credit = credit
        self.changed = asyncio.Event()


def _unexpected(exc: Exception) -> errors.DockyardError:
    """What a caller is told of an exception no handler expected."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f"write {exc.filename}: " if exc.filename else ""
        return errors.ServerError(f"{where}no space left on device")
    if "database or disk is full" in str(exc):  # sqlite3's word for it
        return errors.ServerError("no space left on device (the database could not be written)")
    return errors.ServerError(f"internal error: {exc}")


class ServiceServer:
    """The ROUTER side: dispatches requests to this service's handlers."""

    def __init__(self, exec_root: str, service: str, kind: str | None = None):
        self.service = service        # the socket's name: a service, or shim-<container id>
        self.kind = kind or service   # whose methods it serves
        self.handlers: dict[str, Handler] = {}
        self._ctx = zmq.asyncio.Context.instance()
        self._sock = zmq.Socket(self._ctx, zmq.ROUTER)   # driven by a LoopSocket while it serves
        self._io: LoopSocket | None = None
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self._sock.setsockopt(zmq.HEARTBEAT_IVL, framing.HEARTBEAT_IVL_MS)
        self._sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, framing.HEARTBEAT_TIMEOUT_MS)
        path = socket_path(exec_root, service)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        os.chmod(os.path.dirname(path), 0o700)
        if os.path.exists(path):
            os.unlink(path)  # left by a killed predecessor; only this service binds it
        self._sock.bind(endpoint(exec_root, service))
        self._path, self._inode = path, os.stat(path).st_ino
        self._calls: dict[tuple[bytes, int], asyncio.Task] = {}
        self._methods: dict[tuple[bytes, int], str] = {}   # what each call is
        self._uploads: dict[tuple[bytes, int], Upload] = {}
        self._outbound: dict[tuple[bytes, int], _Outbound] = {}
        self._heard: dict[bytes, float] = {}   # caller identity -> when last heard from

    def handle(self, name: str) -> Callable[[Handler], Handler]:
        m = method(name)
        if m.service not in ("*", self.kind):
            raise ValueError(f"{name} belongs to {m.service}, not {self.kind}")

        def register(fn: Handler) -> Handler:
            self.handlers[name] = fn
            return fn
        return register

    def live_tasks(self) -> int:
        return len(self._calls)

    async def serve(self) -> None:
        missing = [m.name for m in METHODS.values()
                   if m.service == self.kind and m.name not in self.handlers]
        if missing:
            log.info("%s serves no handler yet for: %s", self.service, ", ".join(missing))
        watchdog = asyncio.ensure_future(self._watch_callers())
        try:
            await self._receive()
        finally:
            watchdog.cancel()

    async def _watch_callers(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(framing.ALIVE_IVL)
            now = loop.time()
            for (ident, req_id), task in list(self._calls.items()):
                if now - self._heard.get(ident, now) > framing.CALLER_TIMEOUT and self._cancellable(ident, req_id):
                    log.info("%s: caller went away; cancelling its call %s", self.service, req_id)
                    task.cancel()
            for ident in [i for i, t in self._heard.items() if now - t > framing.CALLER_TIMEOUT]:
                if not any(key[0] == ident for key in self._calls):
                    del self._heard[ident]

    async def _receive(self) -> None:
        self._time = asyncio.get_running_loop().time
        self._io = LoopSocket(self._sock, self._received)
        try:
            await asyncio.get_running_loop().create_future()   # the calls arrive through the LoopSocket, until cancelled
        finally:
            self._io.close()

    def _received(self, parts: list[bytes]) -> None:
        if len(parts) < 2:
            return
        ident = parts[0]
        self._heard[ident] = self._time()
        try:
            header = unpack(parts[1])
        except errors.DockyardError:
            log.warning("%s: dropping a malformed frame", self.service)
            return
        self._dispatch(ident, header, parts[2] if len(parts) > 2 else None)

    def close(self) -> None:
        for task in self._calls.values():
            task.cancel()
        if self._io is not None:
            self._io.close()
        self._sock.close(0)
        # ZeroMQ would unlink the socket file later, in its I/O thread, which a process
        # about to exit never lets it do. Not if a successor (a container's next shim)
        # has bound the name since.
        try:
            if os.stat(self._path).st_ino == self._inode:
                os.unlink(self._path)
        except FileNotFoundError:
            pass

    # -- internals

    def _dispatch(self, ident: bytes, header: dict, raw: bytes | None) -> None:
        key = (ident, header["id"])
        t = header["t"]
        if t == "req":
            if key in self._calls:
                return
            if header.get("upload"):
                # Made now, not in the task: the caller's data (or eof) may be next in line.
                self._uploads[key] = Upload(self, ident, header["id"])
            task = asyncio.ensure_future(self._run(ident, header))
            self._calls[key] = task
            if header.get("method") in METHODS:
                self._methods[key] = header["method"]
            task.add_done_callback(lambda _t, key=key: self._finish(key))
        elif t == "data":
            up = self._uploads.get(key)
            if up and raw is not None:
                up._feed(raw)
        elif t == "eof":
            up = self._uploads.get(key)
            if up:
                up._feed(None)
        elif t == "credit":
            out = self._outbound.get(key)
            if out:
                out.credit += int(header.get("n", 0))
                out.changed.set()
        elif t == "cancel":
            task = self._calls.get(key)
            if task and self._cancellable(*key):
                task.cancel()

    def _cancellable(self, ident: bytes, req_id: int) -> bool:
        name = self._methods.get((ident, req_id))
        return name is None or METHODS[name].cancellable

    def _finish(self, key: tuple) -> None:
        self._calls.pop(key, None)
        self._methods.pop(key, None)
        self._uploads.pop(key, None)
        self._outbound.pop(key, None)

    def _send(self, ident: bytes, header: dict, raw: bytes | None = None) -> None:
        # A caller that went away cannot be told anything; its calls end by the watchdog.
        try:
            if self._io is not None:
                self._io.send([ident, *frames(header, raw)])
        except zmq.ZMQError:
            pass

    async def _run(self, ident: bytes, header: dict) -> None:
        req_id = header["id"]
        key = (ident, req_id)
        try:
            m = method(str(header.get("method")))
            handler = self.handlers.get(m.name)
            if handler is None:
                raise errors.NotImplementedYet(f"{self.service} does not serve {m.name}")
            params = header.get("params") or {}
            check(m.params, params, m.name)
            upload = self._uploads.get(key)
            if upload is not None and not m.upload:
                raise errors.BadParameter(f"{m.name} takes no upload")
            call = Call(m, params, upload)
            if m.chunk is None:
                result = await handler(call)
                check(m.reply, result, f"{m.name} reply")
                self._send(ident, {"t": "res", "id": req_id, "result": result})
            else:
                out = self._outbound[key] = _Outbound(int(header.get("credit", framing.STREAM_WINDOW)))
                result = None
                gen = handler(call)
                try:
                    async for chunk in gen:
                        while out.credit <= 0:
                            out.changed.clear()
                            await out.changed.wait()
                        out.credit -= 1
                        if isinstance(chunk, (bytes, bytearray, memoryview)):
                            self._send(ident, {"t": "chunk", "id": req_id}, bytes(chunk))
                        elif isinstance(chunk, tuple):  # (meta, bytes): a labelled raw frame
                            meta, data = chunk
                            check(m.chunk, meta, f"{m.name} chunk")
                            self._send(ident, {"t": "chunk", "id": req_id, "value": meta}, bytes(data))
                        else:
                            check(m.chunk, chunk, f"{m.name} chunk")
                            self._send(ident, {"t": "chunk", "id": req_id, "value": chunk})
                finally:
                    # Cancelled while it waited for credit, the handler sits at a yield: close
                    # it now, so its own cleanup (a pull's staging) runs at once, not whenever
                    # the generator is collected (or the service restarts).
                    await gen.aclose()
                self._send(ident, {"t": "end", "id": req_id, "result": result})
        except asyncio.CancelledError:
            raise
        except errors.DockyardError as exc:
            self._send(ident, {"t": "err", "id": req_id, "error": exc.to_wire()})
        except Exception as exc:
            log.exception("%s: %s failed", self.service, header.get("method"))
            self._send(ident, {"t": "err", "id": req_id, "error": _unexpected(exc).to_wire()})
