"""The wire between Dockyard's processes: the one registry of RPC methods and its transport.

Every method is declared once here (`METHODS`): its name (noun.verb), the service
that serves it, the shape of its parameters and of its reply, whether its reply is a
stream of chunks and whether the caller uploads bytes, and how long a caller waits.

Transport: ZeroMQ DEALER clients and ROUTER services on `ipc://` sockets in the
exec-root. A message is one msgpack header frame, optionally followed by one raw
frame of bulk bytes that is never re-packed. Headers:

    {t: "req", id, method, params, credit?, upload?}   client -> service
    {t: "res", id, result}                             service -> client
    {t: "err", id, error: {kind, message}}             service -> client
    {t: "chunk", id, value?} [+ raw frame]             service -> client (stream)
    {t: "end", id}                                     service -> client (stream done)
    {t: "credit", id, n}                               either way: n more chunks may come
    {t: "data", id} + raw frame                        client -> service (upload)
    {t: "eof", id}                                     client -> service (upload done)
    {t: "cancel", id}                                  client -> service
    {t: "alive", id: 0}                                client -> service, while calls are in flight

Flow control is credit based in both directions: a sender never has more chunks in
flight than the receiver granted, so a slow reader never makes a process buffer
without bound. Only this module touches msgpack.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import logging
import os
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator

import msgpack
import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

from . import errors
from .sockets import shim_name, socket_path

log = logging.getLogger(__name__)

# Chunks a reader grants at once; it tops the window up when half is consumed.
STREAM_WINDOW = 16
# A peer that stops answering heartbeats (killed, frozen) is dropped after this long.
HEARTBEAT_IVL_MS = 500
HEARTBEAT_TIMEOUT_MS = 2000
DEFAULT_TIMEOUT = 5.0
# How long a call waits for a service that is not connected (yet) before it says so.
CONNECT_GRACE = 1.0
# A caller with calls in flight says it is alive this often; a service cancels the calls
# of a caller it has not heard from for CALLER_TIMEOUT (it died: its uploads would never end).
ALIVE_IVL = 1.0
CALLER_TIMEOUT = 5.0


# --------------------------------------------------------------------------- schema

class Opt:
    """A parameter or reply key that may be absent or None."""

    def __init__(self, spec: Any):
        self.spec = spec

    def __repr__(self) -> str:
        return f"Opt({self.spec!r})"


ANY = object()


@dataclass(frozen=True)
class Method:
    name: str
    service: str              # the service that serves it; "*" for every service
    params: dict = field(default_factory=dict)
    reply: dict = field(default_factory=dict)
    chunk: Any = None         # None: unary reply; bytes, or a dict spec (a chunk may then also
                              # be a (dict, bytes) pair: a labelled raw frame)
    upload: bool = False      # the caller streams raw bytes to the service
    timeout: float | None = DEFAULT_TIMEOUT  # None: wait as long as the peer is alive
    # Whether a caller that gives up (or goes away) ends the call at the service. Streams
    # and uploads are (nothing else would end them), and waits that say so; any other
    # call changes state and always runs to its end, so a client's hang-up never leaves
    # a start or a removal half done.
    waits: bool = False

    @property
    def cancellable(self) -> bool:
        return self.chunk is not None or self.upload or self.waits


METHODS: dict[str, Method] = {}


def _declare(method: Method) -> Method:
    assert method.name not in METHODS, method.name
    METHODS[method.name] = method
    return method


SERVICES = ("api", "supervisor", "builder", "registry", "shim")

_declare(Method(
    "system.ping", "*",
    reply={"service": str, "pid": int},
    timeout=3.0,
))
_declare(Method(
    "system.stats", "*",
    reply={"service": str, "pid": int, "fds": int, "threads": int, "tasks": int},
    timeout=3.0,
))
_declare(Method(
    "system.info", "supervisor",
    reply={
        "id": str,
        "name": str,
        "containers": int,
        "containers_running": int,
        "containers_paused": int,
        "containers_stopped": int,
        "images": int,
        "memory_limit": bool,
        "swap_limit": bool,
        "cpu_shares": bool,
        "pids_limit": bool,
        "oom_kill_disable": bool,
        "cgroup_version": str,
        "kernel_version": str,
        "operating_system": str,
        "os_version": str,
        "architecture": str,
        "ncpu": int,
        "mem_total": int,
        "data_root": str,
        "system_time": str,
        "security_options": [str],
    },
))


# Images. The registry service owns the image store's writes.
IMAGE = {
    "id": str,
    "parent": str,
    "created": str,
    "size": int,
    "refs": [str],
    "digests": [str],
    "config": ANY,                  # the image config JSON, as stored
    "last_tag_time": Opt(str),
}
# A row of the image list: an image without its config, but for its labels.
IMAGE_ROW = {k: v for k, v in IMAGE.items() if k != "config"} | {"labels": ANY}
HISTORY_ENTRY = {"id": str, "created": str, "created_by": str, "size": int,
                 "comment": str, "tags": [str]}
# One progress message; the api turns it into Docker's JSON message.
PROGRESS = {
    "status": Opt(str),
    "id": Opt(str),
    "current": Opt(int),
    "total": Opt(int),
    "stream": Opt(str),
    "image": Opt(str),              # the image the operation made or loaded
}
_IMPORT = {"repo": Opt(str), "tag": Opt(str), "message": Opt(str), "changes": [str],
           "force_tag": bool, "source": str}

_declare(Method("image.list", "registry", params={"all": bool}, reply={"images": [IMAGE_ROW]}))
_declare(Method("image.inspect", "registry", params={"name": str}, reply=IMAGE))
_declare(Method("image.history", "registry", params={"name": str},
                reply={"entries": [HISTORY_ENTRY]}))
_declare(Method("image.tag", "registry",
                params={"name": str, "repo": str, "tag": Opt(str), "force": bool},
                reply={"ref": str}))
_declare(Method("image.remove", "registry", params={"name": str, "force": bool, "prune": bool},
                reply={"untagged": [str], "deleted": [str]}))
# Docker's image prune: dangling images (untagged, no children), or with `dangling` False
# every image no container uses; `until` (unix seconds: the api parses Docker's forms) and
# `label`/`label_not` (Docker's `label!`) narrow it. Each item is an untag or a deletion.
_declare(Method("image.prune", "registry",
                params={"dangling": bool, "until": Opt(float), "label": [str], "label_not": [str]},
                reply={"removed": [{"untagged": Opt(str), "deleted": Opt(str)}], "space_reclaimed": int},
                timeout=None))
_declare(Method("image.import", "registry", params=_IMPORT, chunk=PROGRESS, upload=True))
_declare(Method("image.import_url", "registry", params={**_IMPORT, "url": str}, chunk=PROGRESS))
_declare(Method("image.insert", "registry", params={"name": str, "url": str, "path": str},
                chunk=PROGRESS))
_declare(Method("image.save", "registry", params={"names": [str]}, chunk=bytes))
AUTH = {"username": str, "password": str, "token": str}
_declare(Method("auth.login", "registry",
                params={"username": str, "password": str, "email": str, "serveraddress": str},
                reply={"status": str}, timeout=30))
_declare(Method("image.search", "registry", params={"term": str, "limit": int, "auth": Opt(AUTH)},
                reply={"results": [{"name": str, "description": str, "star_count": int,
                                    "is_official": bool, "is_automated": bool}]}, timeout=30))
_declare(Method("auth.get", "registry", reply={"username": str, "email": str}))
_declare(Method("image.pull", "registry", params={"image": str, "auth": Opt(AUTH)}, chunk=PROGRESS))
_declare(Method("image.push", "registry", params={"name": str, "tag": Opt(str), "auth": Opt(AUTH)},
                chunk=PROGRESS))
_declare(Method("image.load", "registry", params={"quiet": bool}, chunk=PROGRESS, upload=True))

# Containers, owned by the supervisor. A container travels as its whole record (the
# shape of a modern inspect, plus a few internal keys); the api shapes it per version.
CONTAINER = ANY
_declare(Method("container.create", "supervisor",
                # networking_config: NetworkingConfig, type-checked at create (not yet stored)
                params={"config": ANY, "host_config": ANY, "networking_config": Opt(ANY), "name": Opt(str)},
                reply={"id": str, "warnings": [str]}))
# The filters of Docker's container list (moby daemon/list.go), each a list of values.
CONTAINER_FILTERS = {key: Opt([str]) for key in (
    "ancestor", "before", "exited", "expose", "health", "id", "is-task", "isolation", "label",
    "name", "network", "publish", "since", "status", "volume")}
_declare(Method("container.list", "supervisor",
                params={"all": bool, "limit": int, "since": Opt(str), "before": Opt(str),
                        "filters": Opt(CONTAINER_FILTERS)},
                reply={"containers": [CONTAINER]}))
# Docker's container prune: stopped containers (created, exited, dead) created before `until`
# (unix seconds) with the labels `label` and not all of `label_not` (Docker's `label!`).
_declare(Method("container.prune", "supervisor",
                params={"until": Opt(float), "label": [str], "label_not": [str]},
                reply={"deleted": [str], "space_reclaimed": int}, timeout=None))
_declare(Method("container.inspect", "supervisor", params={"id": str}, reply=CONTAINER))
_declare(Method("container.start", "supervisor", params={"id": str}, timeout=60))
_declare(Method("container.stop", "supervisor", params={"id": str, "timeout": Opt(int)}, timeout=None))
_declare(Method("container.restart", "supervisor", params={"id": str, "timeout": Opt(int)}, timeout=None))
_declare(Method("container.kill", "supervisor", params={"id": str, "signal": Opt(str)}))
# `exits`: with next-exit, how many exits of the container the caller had seen (its
# record's Dockyard.exits): the wait ends at the one after those.
_declare(Method("container.wait", "supervisor", params={"id": str, "condition": Opt(str), "exits": Opt(int)},
                reply={"exit_code": int, "error": str}, timeout=None, waits=True))
_declare(Method("container.started", "supervisor", params={"id": str}, reply={"pid": int}, timeout=None,
                waits=True))
_declare(Method("container.remove", "supervisor", params={"id": str, "force": bool, "volumes": bool},
                timeout=60))
_declare(Method("container.changes", "supervisor", params={"id": str},
                reply={"changes": [{"path": str, "kind": int}]}, timeout=60))
_declare(Method("container.export", "supervisor", params={"id": str}, chunk=bytes))
_declare(Method("container.logs", "supervisor",
                params={"id": str, "stdout": bool, "stderr": bool, "follow": bool,
                        "since": float, "until": float, "tail": int, "timestamps": bool},
                chunk={"fd": int, "time": str}))
_declare(Method("container.commit", "supervisor",
                params={"id": str, "repo": Opt(str), "tag": Opt(str), "comment": Opt(str),
                        "author": Opt(str), "config": ANY},
                reply={"id": str}, timeout=None))
_declare(Method("image.commit", "registry",
                params={"parent": str, "container": str, "created_by": str, "comment": str,
                        "author": str, "config": ANY, "container_config": ANY,
                        "repo": Opt(str), "tag": Opt(str)},
                reply={"id": str}, upload=True, timeout=120))

# The shim of one container (socket shim-<container id>): the process, its stdio, its exit.
EXIT = {"exit_code": int, "finished_at": str, "oom_killed": bool, "error": str}
STDIO = {"fd": int}   # a labelled raw frame: 1 stdout, 2 stderr (0: a tty's one stream)
_declare(Method("shim.state", "shim",
                reply={"pid": int, "running": bool, "started_at": str, "exit": Opt(EXIT)}))
# `pid` names the start the caller means: a shim of an earlier start (lingering after its
# container exited, on the same socket path) answers Conflict, and the caller reconnects.
_declare(Method("shim.wait", "shim", params={"pid": int}, reply=EXIT, timeout=None, waits=True))
_declare(Method("shim.kill", "shim", params={"pid": int, "signal": int}))
_declare(Method("shim.resize", "shim", params={"pid": int, "height": int, "width": int}))
_declare(Method("shim.attach", "shim",
                params={"pid": int, "stdin": bool, "stdout": bool, "stderr": bool, "logs": bool,
                        "stream": bool},
                chunk=STDIO, upload=True))

# ------------------------------------------------------------------- validation

def _type_name(spec: Any) -> str:
    if isinstance(spec, Opt):
        return f"optional {_type_name(spec.spec)}"
    if isinstance(spec, dict):
        return "map"
    if isinstance(spec, list):
        return f"list of {_type_name(spec[0])}"
    if spec is ANY:
        return "any"
    return spec.__name__


def check(spec: Any, value: Any, where: str) -> None:
    """Raise BadParameter unless `value` has the shape `spec` describes."""
    if isinstance(spec, Opt):
        if value is not None:
            check(spec.spec, value, where)
        return
    if spec is ANY:
        return
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            raise errors.BadParameter(f"{where}: expected a map, got {type(value).__name__}")
        for key in value:
            if key not in spec:
                raise errors.BadParameter(f"{where}: unexpected key {key!r}")
        for key, sub in spec.items():
            if key not in value:
                if isinstance(sub, Opt):
                    continue
                raise errors.BadParameter(f"{where}: missing key {key!r}")
            check(sub, value[key], f"{where}.{key}")
        return
    if isinstance(spec, list):
        if not isinstance(value, list):
            raise errors.BadParameter(f"{where}: expected a list, got {type(value).__name__}")
        for i, item in enumerate(value):
            check(spec[0], item, f"{where}[{i}]")
        return
    ok = isinstance(value, spec)
    if spec is int and isinstance(value, bool):
        ok = False
    if spec is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise errors.BadParameter(
            f"{where}: expected {_type_name(spec)}, got {type(value).__name__}")


def method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise errors.NotImplementedYet(f"no such method: {name}") from None


# ---------------------------------------------------------------------- framing

def pack(header: dict) -> bytes:
    return msgpack.packb(header, use_bin_type=True)


def unpack(frame: bytes) -> dict:
    try:
        header = msgpack.unpackb(frame, raw=False)
    except Exception as exc:  # msgpack raises several unrelated types
        raise errors.BadParameter(f"malformed wire frame: {exc}") from None
    if not isinstance(header, dict) or "t" not in header or "id" not in header:
        raise errors.BadParameter("malformed wire frame: no type or id")
    return header


def frames(header: dict, raw: bytes | None = None) -> list[bytes]:
    return [pack(header)] if raw is None else [pack(header), raw]


def endpoint(exec_root: str, service: str) -> str:
    return "ipc://" + socket_path(exec_root, service)


# ----------------------------------------------------------------------- client

def _quiet(sent: Any) -> None:
    """Swallow the failure of a fire-and-forget send (the asyncio socket reports it late)."""
    if isinstance(sent, asyncio.Future):
        sent.add_done_callback(lambda f: f.cancelled() or f.exception())


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
            if self._consumed >= STREAM_WINDOW // 2:
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
        self._sock = ctx.socket(zmq.DEALER)
        self._sock.setsockopt(zmq.LINGER, 0)
        # Refuse to queue for a peer that is not connected: fail fast instead.
        self._sock.setsockopt(zmq.IMMEDIATE, 1)
        # Shims come and go: a new one is picked up within a few milliseconds.
        self._sock.setsockopt(zmq.RECONNECT_IVL, 10)
        self._sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        self._sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
        self._sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
        self._monitor = self._sock.get_monitor_socket(
            zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
        self._connected = asyncio.Event()
        self._sock.connect(endpoint(exec_root, service))
        self._tasks = [asyncio.ensure_future(self._read()),
                       asyncio.ensure_future(self._watch()),
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
            return await asyncio.wait_for(asyncio.shield(fut), wait)
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
            header["credit"] = STREAM_WINDOW
        if upload is not None:
            header["upload"] = True
            self._uploads[req_id] = _Upload()
        self._pending[req_id] = waiter
        # A (re)starting service gets a moment to appear, and a new connection to finish its
        # handshake (until then the socket refuses to queue), before the call gives up.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CONNECT_GRACE
        if not self._connected.is_set():
            await self.wait_connected(CONNECT_GRACE)
        while True:
            try:
                await self._sock.send_multipart(frames(header), flags=zmq.NOBLOCK)
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
        _quiet(self._sock.send_multipart(frames(header, raw), flags=zmq.NOBLOCK))

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
            await asyncio.sleep(ALIVE_IVL)
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

    async def _read(self) -> None:
        while True:
            parts = await self._sock.recv_multipart(copy=True)
            try:
                header = unpack(parts[0])
            except errors.DockyardError:
                log.warning("dropping a malformed frame from %s", self.service)
                continue
            req_id, t = header["id"], header["t"]
            if t == "credit":
                grant = self._uploads.get(req_id)
                if grant:
                    grant.credit += int(header.get("n", 0))
                    grant.changed.set()
                continue
            waiter = self._pending.get(req_id)
            if waiter is None:
                continue
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


# ----------------------------------------------------------------------- server

Handler = Callable[..., Awaitable[Any] | AsyncIterator[Any]]


class Upload:
    """The bytes a caller uploads, read by a handler; grants credit as it reads."""

    def __init__(self, server: "ServiceServer", ident: bytes, req_id: int):
        self._server, self._ident, self._id = server, ident, req_id
        self._queue: asyncio.Queue = asyncio.Queue()
        self._read = 0
        self._done = False
        server._send(ident, {"t": "credit", "id": req_id, "n": STREAM_WINDOW})

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
        if self._read >= STREAM_WINDOW // 2:
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
        self._sock = self._ctx.socket(zmq.ROUTER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self._sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
        self._sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
        path = socket_path(exec_root, service)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        os.chmod(os.path.dirname(path), 0o700)
        if os.path.exists(path):
            os.unlink(path)  # left by a killed predecessor; only this service binds it
        self._sock.bind("ipc://" + path)
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
            await asyncio.sleep(ALIVE_IVL)
            now = loop.time()
            for (ident, req_id), task in list(self._calls.items()):
                if now - self._heard.get(ident, now) > CALLER_TIMEOUT and self._cancellable(ident, req_id):
                    log.info("%s: caller went away; cancelling its call %s", self.service, req_id)
                    task.cancel()
            for ident in [i for i, t in self._heard.items() if now - t > CALLER_TIMEOUT]:
                if not any(key[0] == ident for key in self._calls):
                    del self._heard[ident]

    async def _receive(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            parts = await self._sock.recv_multipart(copy=True)
            if len(parts) < 2:
                continue
            ident = parts[0]
            self._heard[ident] = loop.time()
            try:
                header = unpack(parts[1])
            except errors.DockyardError:
                log.warning("%s: dropping a malformed frame", self.service)
                continue
            self._dispatch(ident, header, parts[2] if len(parts) > 2 else None)

    def close(self) -> None:
        for task in self._calls.values():
            task.cancel()
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
        _quiet(self._sock.send_multipart([ident, *frames(header, raw)], flags=zmq.NOBLOCK))

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
                out = self._outbound[key] = _Outbound(int(header.get("credit", STREAM_WINDOW)))
                result = None
                gen = handler(call)
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
                self._send(ident, {"t": "end", "id": req_id, "result": result})
        except asyncio.CancelledError:
            raise
        except errors.DockyardError as exc:
            self._send(ident, {"t": "err", "id": req_id, "error": exc.to_wire()})
        except Exception as exc:
            log.exception("%s: %s failed", self.service, header.get("method"))
            self._send(ident, {"t": "err", "id": req_id, "error": _unexpected(exc).to_wire()})
