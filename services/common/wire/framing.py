"""How a message travels between two processes: its frames, its endpoint, the protocol's numbers.

A message is one msgpack header frame, optionally followed by one raw frame of bulk
bytes that is never re-packed. Headers:

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
without bound. This is the only module that touches msgpack. The client and the server
read the numbers below from this module when they need them (a test may tune them here).
"""

from __future__ import annotations

import msgpack

from .. import errors
from ..sockets import socket_path

# Chunks a reader grants at once; it tops the window up when half is consumed.
STREAM_WINDOW = 16
# A peer that stops answering heartbeats (killed, frozen) is dropped after this long.
HEARTBEAT_IVL_MS = 500
HEARTBEAT_TIMEOUT_MS = 2000
# How long a call waits for a service that is not connected (yet) before it says so.
CONNECT_GRACE = 1.0
# A caller with calls in flight says it is alive this often; a service cancels the calls
# of a caller it has not heard from for CALLER_TIMEOUT (it died: its uploads would never end).
ALIVE_IVL = 1.0
CALLER_TIMEOUT = 5.0


def pack(header: dict) -> bytes:
    return msgpack.packb(header, use_bin_type=True)


def unpack(frame: bytes) -> dict:
    """A header frame's map; BadParameter if it is not one (no type or id)."""
    try:
        header = msgpack.unpackb(frame, raw=False)
    except Exception as exc:  # msgpack raises several unrelated types
        raise errors.BadParameter(f"malformed wire frame: {exc}") from None
    if not isinstance(header, dict) or "t" not in header or "id" not in header:
        raise errors.BadParameter("malformed wire frame: no type or id")
    return header


def frames(header: dict, raw: bytes | None = None) -> list[bytes]:
    """The frames of one message: its header, and its raw bytes if it carries some."""
    return [pack(header)] if raw is None else [pack(header), raw]


def endpoint(exec_root: str, service: str) -> str:
    """The ZeroMQ address of a service's (or a shim's) socket."""
    return "ipc://" + socket_path(exec_root, service)
