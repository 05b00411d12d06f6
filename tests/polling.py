"""The one way a test waits: on a condition, polled, with a deadline; never on a fixed sleep."""

from __future__ import annotations

import asyncio
import time
from typing import Callable


def until(check, timeout: float = 20, what: str = "", interval: float = 0.05,
          detail: Callable[[], str] | None = None):
    """The first truthy value `check()` returns; an OSError or AssertionError counts as not
    yet. Fails the test, naming `what` (and the last such error, and what `detail()` says:
    a log, a listing), if none comes within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = check()
            if value:
                return value
        except (OSError, AssertionError) as exc:
            last = exc
        if time.monotonic() >= deadline:
            message = f"timed out after {timeout:g}s waiting for {what or check}"
            if last:
                message += f" (last: {last!r})"
            if detail is not None:
                message += f"\n{detail()}"
            raise AssertionError(message)
        time.sleep(interval)


async def eventually(check, timeout: float = 10, what: str = "", interval: float = 0.02):
    """`until` for a test running an event loop: awaits instead of blocking it."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what or check}")
        await asyncio.sleep(interval)
