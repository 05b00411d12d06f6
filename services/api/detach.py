"""The client's side of an attach or an exec start: its stdin on the way to the shim, the
detach keys looked for in it, and when the session ends.

As dockerd (daemon/internal/stream/attach.go): the keys are looked for only with a tty,
ctrl-p ctrl-q unless the request (attach's `detachKeys`, an exec's `DetachKeys`) names
others; the bytes of a sequence are held back while it may still complete, passed on when
it does not, and dropped when it does. Then the session ends: the connection closes, and
the container or exec'd process runs on with its stdin as it was. The end of the client's
stdin closes the process's stdin when the session is one that does so (an exec, or a
container with StdinOnce, without a tty); otherwise it too ends the session. A client that
goes away ends it in any case (after its end of stdin went on, when that closes stdin).
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, Awaitable, Protocol

from services.common import errors

DEFAULT = b"\x10\x11"   # ctrl-p, ctrl-q

# Docker's names of control characters (moby/term's ASCII table): ctrl-@ is 0, ctrl-a 1 ...
_CONTROL = {f"ctrl-{c}": code for code, c in enumerate("@abcdefghijklmnopqrstuvwxyz[\\]^_")}


def parse(text: str) -> bytes:
    """Docker's detach-key syntax: comma-separated keys, each one character, `ctrl-<x>`
    (x one of a-z @ [ \\ ] ^ _) or `DEL`. ValueError names a key that is none of these."""
    codes = bytearray()
    for key in text.split(","):
        raw = key.encode()
        if len(raw) == 1:
            codes += raw
        elif key in _CONTROL:
            codes.append(_CONTROL[key])
        elif key == "DEL":
            codes.append(127)
        else:
            raise ValueError(f"Unknown character: '{key}'")
    return bytes(codes)


def from_query(text: str | None) -> bytes:
    """An attach's `detachKeys` parameter (the default when absent or empty); a 400 as
    dockerd's when it does not parse."""
    if not text:
        return DEFAULT
    try:
        return parse(text)
    except ValueError:
        raise errors.BadParameter(f"Invalid detach keys ({text}) provided") from None


def check_exec_keys(text: str) -> None:
    """An exec's DetachKeys, checked at its create (dockerd's message)."""
    if text:
        try:
            parse(text)
        except ValueError:
            raise errors.BadParameter(f"Invalid escape keys ({text}) provided") from None


def of_exec(text: str) -> bytes:
    """The keys of an exec, from its (checked) DetachKeys."""
    try:
        return parse(text) if text else DEFAULT
    except ValueError:
        return DEFAULT   # a record from before the check: the default keys, never none


class Matcher:
    """Looks for `keys` in a stream of bytes fed to it in pieces."""

    def __init__(self, keys: bytes):
        if not keys:
            raise ValueError("no detach keys")
        self.keys = keys
        self.held = b""   # the start of the sequence seen so far, not passed on (yet)

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """The bytes to pass on, and whether the sequence completed (what follows it is dropped)."""
        out = bytearray()
        first = self.keys[:1]
        i, n = 0, len(data)
        while i < n:
            if not self.held:
                j = data.find(first, i)
                if j < 0:
                    out += data[i:]
                    break
                out += data[i:j]
                i = j
            held = self.held + data[i:i + 1]
            i += 1
            # What cannot start the sequence goes on; the rest may still be its start.
            while held and not self.keys.startswith(held):
                out.append(held[0])
                held = held[1:]
            if held == self.keys:
                self.held = b""
                return bytes(out), True
            self.held = held
        return bytes(out), False

    def flush(self) -> bytes:
        """What is held (the client's stdin ended in the middle of a sequence)."""
        held, self.held = self.held, b""
        return held


class Source(Protocol):
    """Where the client's stdin comes from: the hijacked connection, a websocket."""
    lost: asyncio.Event   # the client is gone

    async def read(self) -> bytes | None:   # None: the end of its stdin
        ...


class ClientInput:
    """The client's stdin for the shim (iterate it as the upload: each iteration reads on
    where the last stopped, so a call made again gets the rest), and its session's end."""

    def __init__(self, source: Source | None, use_stdin: bool, keys: bytes | None, eof_ends: bool):
        self.source = source
        self.use_stdin = use_stdin          # forwarded; else read and dropped
        self.matcher = Matcher(keys) if (keys and use_stdin) else None
        self.eof_ends = eof_ends            # the end of stdin ends the session (else it goes on)
        self.ended = asyncio.Event()        # the client detached, or its stdin's end ends the session
        self.input_done = asyncio.Event()   # its stdin ended, or it detached: nothing more goes on
        self.detached = False
        self._reading = 0                   # uploads in progress

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._upload()

    def _passes_end(self) -> bool:
        """Whether the end of the client's stdin goes on to the shim (which closes the
        process's stdin); never after a detach."""
        return self.use_stdin and not self.eof_ends and not self.detached

    async def _upload(self) -> AsyncIterator[bytes]:
        if self.source is None:
            await _forever()   # no client stdin to read (the connection was not taken over)
        self._reading += 1
        try:
            if self.input_done.is_set():   # an upload made again after the end
                if not self._passes_end():
                    await _forever()
                return
            while True:
                data = await self.source.read()
                if data is None:
                    break
                if not self.use_stdin:
                    continue
                detached = False
                if self.matcher is not None:
                    data, detached = self.matcher.feed(data)
                if data:
                    yield data
                if detached:
                    self.detached = True
                    break
            if not self.detached and self.matcher is not None and self.matcher.held:
                yield self.matcher.flush()   # a sequence cut short by the end goes on
            self.input_done.set()
            if self.detached or (self.use_stdin and self.eof_ends) or self.source.lost.is_set():
                self.ended.set()   # the relay is cancelled a turn later: the end below goes first
            if not self._passes_end():
                await _forever()   # the process's stdin stays as it is
            # Returning ends the upload: the shim closes the process's stdin, at once.
        finally:
            self._reading -= 1

    async def until_ended(self, relay: Awaitable[None]) -> None:
        """Run `relay` (the output to the client) until it ends, or the session does."""
        task = asyncio.ensure_future(relay)
        ended = asyncio.ensure_future(self.ended.wait())
        lost = asyncio.ensure_future(self._lost())
        try:
            await asyncio.wait({task, ended, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (task, ended, lost):
                waiter.cancel()
            await asyncio.gather(task, ended, lost, return_exceptions=True)
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()

    async def _lost(self) -> None:
        if self.source is None:
            await _forever()
        await self.source.lost.wait()
        if self._reading:
            # Its end of stdin reaches the shim first (a StdinOnce container's stdin closes).
            await self.input_done.wait()


async def _forever() -> None:
    await asyncio.get_running_loop().create_future()
