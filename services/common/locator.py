"""Reaching a container's current shim: the one way the supervisor and the api call it.

A shim serves on a socket named by its container's short id (sockets.shim_name). After
a restart of the container, the shim of the earlier start may still linger there for late
callers, and a connection may reach it: every shim method takes the pid of the start the
caller means, and a shim of another start answers Conflict, so the call connects again.
Each call has a connection of its own, closed when it is done: shims come and go, and
shared connections would outlive them.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

from . import errors
from .sockets import shim_name

# How long a caller keeps connecting again while it reaches an earlier start's shim.
PATIENCE = 5.0
RECONNECT_DELAY = 0.01


async def call(clients, container_id: str, pid: int, method: str, params: dict | None = None,
               timeout: float | None = ...) -> Any:
    """Call `method` of the shim running `pid` of the container. Unavailable: it is gone."""
    deadline = asyncio.get_running_loop().time() + PATIENCE
    while True:
        try:
            with clients.connection(shim_name(container_id)) as shim:
                return await shim.call(method, {"pid": pid, **(params or {})}, timeout=timeout)
        except errors.Conflict:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(RECONNECT_DELAY)


async def stream(clients, container_id: str, pid: int, method: str, params: dict | None = None,
                 upload: AsyncIterator[bytes] | None = None) -> AsyncIterator[Any]:
    """The chunks of the streaming `method` of the shim running `pid` of the container.
    Unavailable: it is gone (before its first chunk, or mid-stream)."""
    deadline = asyncio.get_running_loop().time() + PATIENCE
    while True:
        started = False
        try:
            with clients.connection(shim_name(container_id)) as shim:
                replies = await shim.stream(method, {"pid": pid, **(params or {})}, upload=upload)
                try:
                    async for chunk in replies:
                        started = True
                        yield chunk
                finally:
                    await replies.aclose()
            return
        except errors.Conflict:
            if started or asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(RECONNECT_DELAY)
