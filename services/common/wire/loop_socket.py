"""A ZeroMQ socket driven by the event loop with the least work per message.

pyzmq's asyncio sockets make a future for every receive and every send, and a message
took several turns of the loop to reach its reader: a call's round trip cost about three
times what ZeroMQ itself takes. Here the socket is a plain (blocking-mode) one, used only
with NOBLOCK: the loop watches its FD, and at each wake-up `drain` receives the messages
waiting and hands each to `deliver` at once; a send is a plain non-blocking send.

ZeroMQ's FD is edge-triggered and tells only that the socket's state changed: every
message waiting is received before the loop waits again, and a send (which may take the
edge of an arrival for itself) is followed by a look at ZMQ_EVENTS. A long burst is
received in turns of at most BURST messages, so that one busy peer does not hold the loop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

import zmq

log = logging.getLogger("services.common.wire")

BURST = 64


class LoopSocket:
    def __init__(self, sock: zmq.Socket, deliver: Callable[[list[bytes]], None]):
        self.sock = sock
        self._deliver = deliver
        self._loop = asyncio.get_running_loop()
        self._fd = sock.getsockopt(zmq.FD)
        self._pending = False   # a drain is scheduled
        self._loop.add_reader(self._fd, self.drain)
        self._soon()   # what arrived before the loop watched

    def _soon(self) -> None:
        if not self._pending:
            self._pending = True
            self._loop.call_soon(self.drain)

    def drain(self) -> None:
        self._pending = False
        sock = self.sock
        for _ in range(BURST):
            if sock.closed or not sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                return
            try:
                parts = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                self._deliver(parts)
            except Exception:   # noqa: BLE001 - one bad message must not strand those behind it
                log.exception("a message could not be delivered")
        self._soon()   # more may be waiting: the rest on the loop's next turn

    def send(self, parts: list[bytes]) -> None:
        """Send now or raise (zmq.Again: no room, or no peer yet; ZMQError: no such peer)."""
        self.sock.send_multipart(parts, zmq.NOBLOCK)
        if not self.sock.closed and self.sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            self._soon()

    def close(self) -> None:
        """Stop watching the socket (before or after its owner closes it)."""
        if not self._loop.is_closed():
            self._loop.remove_reader(self._fd)
