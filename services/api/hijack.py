"""Hijacked connections: after the response head, attach carries raw bytes both ways.

Modern clients ask with `Upgrade: tcp`, which aiohttp parks as an upgraded connection.
A v1.0 client just sends its stdin after the request head; `Sniffer`, which sits
between every accepted connection and aiohttp, marks such a first request as an
upgrade before aiohttp parses it, so its stdin is not read as another request. Once
a handler takes the connection over, the sniffer hands it every byte, and a client's
half-close (end of its stdin) no longer closes the connection: the output still flows.
"""

from __future__ import annotations

import asyncio
import re
from typing import AsyncIterator

from aiohttp import web

from . import fastping

HEAD_LIMIT = 64 << 10
# The client's stdin the api holds for its process at most (then it stops reading it).
STDIN_BUFFER = 1 << 20
# Set on a request the sniffer made an upgrade: its client did not ask for one.
MARK = b"Dockyard-Hijacked"
_HIJACK_PATH = re.compile(rb"^POST (/v[0-9]+\.[0-9]+)?(/containers/[^/ ?]+/attach|/exec/[^/ ?]+/start)[ ?]")


class RawReader:
    """The client's bytes after the request head (its stdin): `read` them (None at its
    end: a half-close, or the connection lost, which `lost` tells apart). While more than
    STDIN_BUFFER bytes wait to be read, the connection is not read: a process that does
    not read its stdin holds its client back, never fills the api."""

    def __init__(self, transport: asyncio.Transport | None = None) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()
        self.done = False
        self.lost = asyncio.Event()
        self.transport = transport
        self.buffered = 0
        self.paused = False

    # aiohttp's payload-parser interface (set_parser feeds what it had buffered)
    def feed_data(self, data: bytes):
        if data:
            self.queue.put_nowait(bytes(data))
            self.buffered += len(data)
            if self.buffered > STDIN_BUFFER and not self.paused and self.transport is not None:
                self.paused = True
                self.transport.pause_reading()
        return False, b""

    def feed_eof(self) -> None:
        if not self.done:
            self.done = True
            self.queue.put_nowait(None)

    def connection_lost(self) -> None:
        self.feed_eof()
        self.lost.set()

    async def read(self) -> bytes | None:
        data = await self.queue.get()
        if data is None:
            self.queue.put_nowait(None)   # its end, kept for whoever reads next
            return None
        self.buffered -= len(data)
        if self.paused and self.buffered <= STDIN_BUFFER // 2 and not self.lost.is_set():
            self.paused = False
            self.transport.resume_reading()
        return data


class Sniffer(asyncio.Protocol):
    def __init__(self, inner: asyncio.Protocol):
        self.inner = inner
        self.head = b""
        self.first = True
        self.reader: RawReader | None = None

    def connection_made(self, transport) -> None:
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.reader is not None:
            self.reader.feed_data(data)
            return
        if data[:1] in b"GH" and fastping.answer(self.inner, data, fresh=self.first and not self.head):
            return   # a keep-alive client's plain ping, answered without aiohttp
        if self.first:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0 and len(self.head) < HEAD_LIMIT:
                return
            self.first = False
            data, self.head = self.head, b""
            if end >= 0 and _HIJACK_PATH.match(data) and not re.search(rb"(?im)^upgrade:", data[:end]):
                data = data[:end] + b"\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n" + MARK + b": 1" + data[end:]
        self.inner.data_received(data)

    def eof_received(self):
        if self.reader is not None:
            self.reader.feed_eof()
            return True  # half-closed: the client still reads the output
        return self.inner.eof_received()

    def connection_lost(self, exc) -> None:
        if self.reader is not None:
            self.reader.connection_lost()
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class RawResponse(web.StreamResponse):
    """A response whose body is written as is: no chunked encoding, ended by closing."""

    _length_check = False  # what aiohttp's websocket responses use to skip chunking

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.force_close()


def asked_to_upgrade(request: web.Request) -> bool:
    """Whether the client itself sent `Upgrade` (and so expects 101, not 200)."""
    return "Upgrade" in request.headers and MARK.decode() not in request.headers


def take_over(request: web.Request) -> RawReader | None:
    """The client's raw bytes from here on, for an upgraded request; None otherwise."""
    if request.headers.get("Upgrade", "").lower() != "tcp" or request.transport is None:
        return None
    reader = RawReader(request.transport)
    request.protocol.set_parser(reader)  # what aiohttp already buffered
    sniffer = request.transport.get_protocol()
    if isinstance(sniffer, Sniffer):
        sniffer.reader = reader
    return reader


async def open_stream(request: web.Request, content_type: str,
                      legacy: bool) -> tuple["RawResponse", RawReader | None]:
    """Take the connection over (attach, exec start): the response, prepared (101 to a
    client that asked to upgrade, as the docker CLI does, else 200, as Docker), and the
    reader of the client's bytes (None if the connection could not be taken)."""
    reader = take_over(request)
    headers = {"Content-Type": content_type}
    upgrade = reader is not None and not legacy and asked_to_upgrade(request)
    if upgrade:
        headers.update({"Connection": "Upgrade", "Upgrade": "tcp"})
    response = RawResponse(status=101 if upgrade else 200, headers=headers)
    await response.prepare(request)
    return response, reader


async def nothing() -> AsyncIterator[bytes]:
    """An upload of no bytes (stdin not wanted)."""
    return
    yield
