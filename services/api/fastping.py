"""GET and HEAD /_ping on a keep-alive connection, answered before aiohttp sees them.

Clients ping before their commands and health checkers ping all the time. Through aiohttp
a ping costs a request object, the router, the middlewares, a response object and its
writer, several times what dockerd spends. `hijack.Sniffer` hands `answer` each chunk a
connection receives; while aiohttp waits for the connection's next request (or has been
given nothing yet), a chunk that is exactly one plain ping is answered here with what
system.ping answers (its headers, API-Version, Server, Date); anything else goes to
aiohttp. Plain: GET or HEAD of /_ping, unprefixed or under /v{version} of a version
Dockyard speaks (another version is aiohttp's 400), HTTP/1.1 with its Host header, no
query, no body, no Upgrade or Expect, and no Connection header but keep-alive.

It reads private state of aiohttp's RequestHandler (whether it waits for a request); where
that is not there (another aiohttp), every ping goes to aiohttp.
"""

from __future__ import annotations

import re
import time
from email.utils import formatdate

from aiohttp.web_protocol import RequestHandler

from services.common import errors

from . import versions
from .system import PING_BODY, PING_CONTENT_TYPE, PING_HEADERS, SERVER_HEADER

_STATE = ("_waiter", "_messages", "_payload_parser", "_upgraded", "_close", "_force_close",
          "_keepalive_timeout", "_next_keepalive_close_time", "_loop", "transport")
SUPPORTED = all(hasattr(RequestHandler, name) for name in _STATE)

_LONGEST = 4096   # a plain ping's head is far shorter; a longer chunk goes to aiohttp
_VERSIONED = re.compile(rb"/v([0-9]+\.[0-9]+)/_ping")
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Headers that make a request more than a plain ping: aiohttp answers it.
_NOT_PLAIN = frozenset((b"content-length", b"transfer-encoding", b"upgrade", b"expect"))
_HEAD = "\r\n".join(["HTTP/1.1 200 OK", *(f"{k}: {v}" for k, v in PING_HEADERS.items()),
                     f"Content-Type: {PING_CONTENT_TYPE}", f"Content-Length: {len(PING_BODY)}",
                     f"API-Version: {versions.API_VERSION}", f"Server: {SERVER_HEADER}", "Date: "]).encode()
_answers: tuple[int, bytes, bytes] = (-1, b"", b"")   # (second, GET's answer, HEAD's) of the last second


def _answer(head_only: bool) -> bytes:
    global _answers
    second = int(time.time())
    if _answers[0] != second:
        head = _HEAD + formatdate(second, usegmt=True).encode() + b"\r\n\r\n"
        _answers = (second, head + PING_BODY, head)
    return _answers[2] if head_only else _answers[1]


def plain_ping(data: bytes) -> bool | None:
    """Whether `data` is one plain ping: None if not, else whether it is a HEAD."""
    if len(data) > _LONGEST or not data.endswith(b"\r\n\r\n") or \
            not data[:data.find(b"\r\n")].endswith(b"/_ping HTTP/1.1"):
        return None   # (every other request is told from a ping here, at little cost)
    if data.find(b"\r\n\r\n") != len(data) - 4:
        return None
    lines = data[:-4].split(b"\r\n")
    method, _, rest = lines[0].partition(b" ")
    target, _, protocol = rest.partition(b" ")
    if method not in (b"GET", b"HEAD") or protocol != b"HTTP/1.1":
        return None
    if target != b"/_ping":
        versioned = _VERSIONED.fullmatch(target)
        if versioned is None:
            return None
        try:
            versions.resolve(versioned.group(1).decode())
        except errors.DockyardError:
            return None
    host = False
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            return None   # malformed, or a folded line: aiohttp's to refuse
        name = name.lower()
        if name in _NOT_PLAIN or (name == b"connection" and value.strip().lower() != b"keep-alive"):
            return None
        host = host or name == b"host"
    return (method == b"HEAD") if host else None   # HTTP/1.1 without a Host: aiohttp's 400


def _waiting(handler: RequestHandler, fresh: bool) -> bool:
    """Whether aiohttp has no request of this connection in hand: none parsed or being
    answered, no body or upgraded stream being read (`fresh`: it was given no byte yet)."""
    if handler._close or handler._force_close or handler._upgraded or handler._payload_parser is not None \
            or handler._messages or handler.transport is None:
        return False
    waiter = handler._waiter
    return fresh or (waiter is not None and not waiter.done())


def answer(handler: RequestHandler, data: bytes, fresh: bool) -> bool:
    """Answer `data` if it is a plain ping aiohttp would take next; whether it was."""
    if not SUPPORTED or not _waiting(handler, fresh):
        return False
    head_only = plain_ping(data)
    if head_only is None:
        return False
    handler.transport.write(_answer(head_only))
    if handler._keepalive_timeout:   # the connection was just used: aiohttp's idle timer starts again
        handler._next_keepalive_close_time = handler._loop.time() + handler._keepalive_timeout
    return True
