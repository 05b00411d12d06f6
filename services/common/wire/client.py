"""The caller's side of the wire: DEALER connections to services and shims, unary calls and streams.

`Clients` holds this process's connections (one per service, made on first use, plus
per-call ones for peers that come and go); a `ServiceClient` is one connection, and a
`ReplyStream` the chunks of one streaming reply. Every call's parameters are checked
against the schema before they leave.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from typing import Any, AsyncIterator, Iterator

import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

from .. import errors
from ..sockets import shim_name
from . import framing
from .framing import endpoint, frames, unpack
from .loop_socket import LoopSocket
from .schema import Method, check, method

log = logging.getLogger("services.common.wire")


class ReplyStream:
    """The chunks of a streaming reply; iterate it, then it ends or raises."""

    def __init__(self, client: "ServiceClient", req_id: int, name: str):
        self._client = client
        self._id = req_id
        self._name = name
        self._queue: asyncio.Queue = asyncio.Queue()
        self._consumed = 0
        self._done = False
        self.result: Any = None
        self.pump: asyncio.Task | None = None   # sends the caller's upload, if any

    def _feed(self, item: tuple) -> None:
        self._queue.put_nowait(item)

    def __aiter__(self) -> "ReplyStream":
        return self

    async def __anext__(self) -> Any:
        if self._done:
            raise StopAsyncIteration
        kind, value = await self._queue.get()
        if kind == "chunk":
            self._consumed += 1
            if self._consumed >= framing.STREAM_WINDOW // 2:
                self._client._send({"t": "credit", "id": self._id, "n": self._consumed})
                self._consumed = 0
            return value
        self._done = True
        self._client._forget(self._id)
        if kind == "end":
            self.result = value
            raise StopAsyncIteration
        raise value

    async def aclose(self) -> None:
        """End the call; once this returns, nothing reads the caller's upload any more."""
        if not self._done:
            self._done = True
            self._client._forget(self._id)
            self._client._send({"t": "cancel", "id": self._id})
        if self.pump is not None:
            self.pump.cancel()
            await asyncio.gather(self.pump, return_exceptions=True)


class _Upload:
    """Credit the service granted for an upload."""

    def __init__(self) -> None:
        self.credit = 0
        self.changed = asyncio.Event()


class ServiceClient:
    """One DEALER connection from this process to one service (or one shim)."""

    def __init__(self, ctx: zmq.asyncio.Context, exec_root: str, service: str):
        self.service = service  # a service name, or "shim-<container id>"
        self._ids = itertools.count(1)
        self._pending: dict[int, Any] = {}   # id -> Future or ReplyStream
        self._uploads: dict[int, _Upload] = {}
        self._pumps: dict[int, asyncio.Task] = {}   # id -> the task sending the caller's body
        # A plain socket, which LoopSocket drives; its monitor is an asyncio one (of ctx).
        self._sock = zmq.Socket(ctx, zmq.DEALER)
        self._sock.setsockopt(zmq.LINGER, 0)
        # Refuse to queue for a peer that is not connected: fail fast instead.
        self._sock.setsockopt(zmq.IMMEDIATE, 1)
        # Shims come and go: a new one is picked up within a few milliseconds.
        self._sock.setsockopt(zmq.RECONNECT_IVL, 10)
        self._sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        self._sock.setsockopt(zmq.HEARTBEAT_IVL, framing.HEARTBEAT_IVL_MS)
        self._sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, framing.HEARTBEAT_TIMEOUT_MS)
        self._monitor = self._sock.get_monitor_socket(
            zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
        self._connected = asyncio.Event()
        self._sock.connect(endpoint(exec_root, service))
        self._io = LoopSocket(self._sock, self._received)
        self._tasks = [asyncio.ensure_future(self._watch()),
                       asyncio.ensure_future(self._say_alive())]

    # -- public

    async def call(self, name: str, params: dict | None = None,
                   timeout: float | None = ..., upload: AsyncIterator[bytes] | None = None) -> Any:
        """Call a unary method and return its checked result."""
        m = method(name)
        if m.chunk is not None:
            raise errors.ServerError(f"{name} streams; use stream()")
        fut = asyncio.get_running_loop().create_future()
        req_id = await self._start(m, params or {}, fut, upload)
        wait = m.timeout if timeout is ... else timeout
        pump = None
        try:
            if upload is not None:
                # The caller's body may take long; the timeout runs once it is all sent. An
                # answer before that (an error) stops the sending.
                pump = self._pumps[req_id] = asyncio.ensure_future(self._pump(req_id, upload))
                await asyncio.wait([pump, fut], return_when=asyncio.FIRST_COMPLETED)
                if not fut.done():
                    pump.result()
            async with asyncio.timeout(wait):   # (fut is this call's own: no shield needed)
                return await fut
        except asyncio.CancelledError:
            self._send({"t": "cancel", "id": req_id})  # our caller gave up: so does the service
            raise
        except asyncio.TimeoutError:
            self._send({"t": "cancel", "id": req_id})
            raise errors.Unavailable(
                f"the {self.service} service did not answer {name} within {wait:g}s") from None
        finally:
            self._forget(req_id)
            if pump is not None:
                await asyncio.gather(pump, return_exceptions=True)

    async def stream(self, name: str, params: dict | None = None,
                     upload: AsyncIterator[bytes] | None = None) -> ReplyStream:
        """Start a streaming method; iterate the returned stream for its chunks."""
        m = method(name)
        if m.chunk is None:
            raise errors.ServerError(f"{name} does not stream; use call()")
        req_id = next(self._ids)
        stream = ReplyStream(self, req_id, name)
        await self._start(m, params or {}, stream, upload, req_id=req_id)
        if upload is not None:
            stream.pump = asyncio.ensure_future(self._pump_or_fail(req_id, upload, stream))
            self._pumps[req_id] = stream.pump
        return stream

    async def wait_connected(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    def close(self) -> None:
        if self._sock.closed:
            return  # closed already (its owner, and the Clients it came from, both may)
        for task in self._tasks:
            task.cancel()
        self._fail_all(errors.Unavailable(f"the connection to {self.service} was closed"))
        for pump in self._pumps.values():
            pump.cancel()
        self._io.close()
        self._sock.disable_monitor()
        self._monitor.close(0)
        self._sock.close(0)

    # -- internals

    async def _start(self, m: Method, params: dict, waiter: Any,
                     upload: AsyncIterator[bytes] | None, req_id: int | None = None) -> int:
        check(m.params, params, m.name)
        if m.upload != (upload is not None):
            raise errors.ServerError(f"{m.name}: upload {'required' if m.upload else 'not accepted'}")
        req_id = req_id or next(self._ids)
        header = {"t": "req", "id": req_id, "method": m.name, "params": params}
        if m.chunk is not None:
            header["credit"] = framing.STREAM_WINDOW
        if upload is not None:
            header["upload"] = True
            self._uploads[req_id] = _Upload()
        self._pending[req_id] = waiter
        # A (re)starting service gets a moment to appear, and a new connection to finish its
        # handshake (until then the socket refuses to queue), before the call gives up.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + framing.CONNECT_GRACE
        if not self._connected.is_set():
            await self.wait_connected(framing.CONNECT_GRACE)
        while True:
            try:
                self._io.send(frames(header))
                return req_id
            except zmq.Again:
                if loop.time() >= deadline:
                    self._forget(req_id)
                    raise errors.Unavailable(
                        f"the {self.service} service is not running (it may be restarting); "
                        "try again") from None
                await asyncio.sleep(0.01)

    async def _pump(self, req_id: int, upload: AsyncIterator[bytes]) -> None:
        grant = self._uploads[req_id]
        async for data in upload:
            if not data:
                continue
            while grant.credit <= 0:
                grant.changed.clear()
                await grant.changed.wait()
            grant.credit -= 1
            self._send({"t": "data", "id": req_id}, bytes(data))
        self._send({"t": "eof", "id": req_id})

    async def _pump_or_fail(self, req_id: int, upload: AsyncIterator[bytes], stream: ReplyStream) -> None:
        try:
            await self._pump(req_id, upload)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the caller's body failed mid-way: tell both ends
            self._send({"t": "cancel", "id": req_id})
            stream._feed(("err", exc if isinstance(exc, errors.DockyardError)
                          else errors.BadParameter(f"reading the request body failed: {exc}")))

    def _send(self, header: dict, raw: bytes | None = None) -> None:
        # A peer that is gone fails the pending call through the monitor; nothing to do here.
        try:
            self._io.send(frames(header, raw))
        except zmq.ZMQError:
            pass

    def _forget(self, req_id: int) -> None:
        self._pending.pop(req_id, None)
        self._uploads.pop(req_id, None)
        self._stop_pump(req_id)

    def _stop_pump(self, req_id: int) -> None:
        # The answer is in (or the call is over): stop reading the caller's body, so the
        # caller may read (and drop) the rest itself.
        pump = self._pumps.pop(req_id, None)
        if pump is not None and pump is not asyncio.current_task() and not pump.done():
            pump.cancel()

    def _fail_all(self, exc: errors.DockyardError) -> None:
        for req_id, waiter in list(self._pending.items()):
            self._deliver_error(req_id, waiter, exc)

    def _deliver_error(self, req_id: int, waiter: Any, exc: Exception) -> None:
        if isinstance(waiter, ReplyStream):
            waiter._feed(("err", exc))
        elif not waiter.done():
            waiter.set_exception(exc)
        self._pending.pop(req_id, None)
        self._uploads.pop(req_id, None)
        self._stop_pump(req_id)

    async def _say_alive(self) -> None:
        while True:
            await asyncio.sleep(framing.ALIVE_IVL)
            if self._pending:
                self._send({"t": "alive", "id": 0})

    async def _watch(self) -> None:
        while True:
            msg = parse_monitor_message(await self._monitor.recv_multipart())
            if msg["event"] == zmq.EVENT_CONNECTED:
                self._connected.set()
            elif msg["event"] == zmq.EVENT_DISCONNECTED:
                self._connected.clear()
                self._fail_all(errors.Unavailable(
                    f"the {self.service} service went away while handling the request "
                    "(it is being restarted); try again"))

    def _received(self, parts: list[bytes]) -> None:
        try:
            header = unpack(parts[0])
        except errors.DockyardError:
            log.warning("dropping a malformed frame from %s", self.service)
            return
        req_id, t = header["id"], header["t"]
        if t == "credit":
            grant = self._uploads.get(req_id)
            if grant:
                grant.credit += int(header.get("n", 0))
                grant.changed.set()
            return
        waiter = self._pending.get(req_id)
        if waiter is None:
            return
        if t == "err":
            self._deliver_error(req_id, waiter, errors.from_wire(header.get("error")))
        elif t == "res" and not isinstance(waiter, ReplyStream):
            if not waiter.done():
                waiter.set_result(header.get("result"))
        elif t == "chunk" and isinstance(waiter, ReplyStream):
            raw, value = (parts[1] if len(parts) > 1 else None), header.get("value")
            waiter._feed(("chunk", (value, raw) if raw is not None and value is not None
                          else raw if raw is not None else value))
        elif t == "end" and isinstance(waiter, ReplyStream):
            waiter._feed(("end", header.get("result")))


class Clients:
    """This process's connections to the other services, made on first use. Once closed
    (the process is stopping), every call in flight fails and no new one is made."""

    def __init__(self, exec_root: str):
        self.exec_root = exec_root
        self._ctx = zmq.asyncio.Context.instance()
        self._clients: dict[str, ServiceClient] = {}
        self._own: set[ServiceClient] = set()   # per-call connections, open now
        self.closed = False

    def _new(self, service: str) -> ServiceClient:
        if self.closed:
            raise errors.Unavailable("the daemon is stopping")
        return ServiceClient(self._ctx, self.exec_root, service)

    def __getitem__(self, service: str) -> ServiceClient:
        if service not in self._clients:
            self._clients[service] = self._new(service)
        return self._clients[service]

    def shim(self, container_id: str) -> ServiceClient:
        return self[shim_name(container_id)]

    @contextlib.contextmanager
    def connection(self, service: str) -> Iterator[ServiceClient]:
        """A connection of the caller's own, closed when it is done: for peers that come
        and go, such as a container's shim, which shared connections would outlive."""
        client = self._new(service)
        self._own.add(client)
        try:
            yield client
        finally:
            self._own.discard(client)
            client.close()

    def drop(self, service: str) -> None:
        client = self._clients.pop(service, None)
        if client is not None:
            client.close()

    async def call(self, name: str, params: dict | None = None, **kw: Any) -> Any:
        service = method(name).service
        if service == "*":
            raise errors.ServerError(f"{name} is served by every service; call one by name")
        return await self[service].call(name, params, **kw)

    async def stream(self, name: str, params: dict | None = None, **kw: Any) -> ReplyStream:
        return await self[method(name).service].stream(name, params, **kw)

    def close(self) -> None:
        self.closed = True
        for client in [*self._clients.values(), *self._own]:
            client.close()
        self._clients.clear()


