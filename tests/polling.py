"""The one way a test waits: on a condition, polled, with a deadline; never on a fixed sleep."""

from __future__ import annotations

import time


def until(check, timeout: float = 20, what: str = "", interval: float = 0.05):
    """The first truthy value `check()` returns; an OSError or AssertionError counts as not
    yet. Fails the test, naming `what`, if none comes within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = check()
            if value:
                return value
        except (OSError, AssertionError) as exc:
            last = exc
        assert time.monotonic() < deadline, f"timed out after {timeout:g}s waiting for {what or check}" + (
            f" (last: {last!r})" if last else "")
        time.sleep(interval)
