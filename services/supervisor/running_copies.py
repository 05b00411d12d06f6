"""The helpers of docker cp copies of running containers, per container, so that whatever
mounts the container's overlay again ends them first.

Such a helper holds a private copy of the mount namespace of the container's init, and
with it the container's overlay, mounted on its upper and work directories, for as long as
it lives, whether the container has stopped meanwhile or not. A start (a restart during a
slow copy), or a copy of the stopped container, must not mount a second overlay on those
directories while that copy lives: overlayfs leaves that undefined. So each kills the
container's helpers and waits for their exits first: a mount namespace, and its mounts, go
with its last process (a helper is one process, and its namespace copy is its own), before
the process is seen to exit.

The exit is waited for through a pidfd, not the asyncio process: that waits for the end of
its pipes too, and a copy paused by a slow reader does not read its stdout to the end.
"""

from __future__ import annotations

import asyncio
import os
import signal

from services.common import errors

Helper = asyncio.subprocess.Process
ENDED_WORDS = "the container was restarted during the copy"
STOPPED_WORDS = "the container stopped during the copy, and is being copied from again"
REMOVED_WORDS = "the container was removed during the copy"
EXIT_WAIT = 10.0   # a SIGKILLed helper exits at once; one that does not would keep the overlay


class RunningCopies:
    def __init__(self) -> None:
        self._helpers: dict[str, dict[Helper, int | None]] = {}   # container id -> helper -> its pidfd
        self._ended: dict[Helper, str] = {}   # helpers killed (and why), until their copies end

    def add(self, cid: str, helper: Helper) -> None:
        """A helper just spawned for a copy of the running container `cid`."""
        try:
            fd: int | None = os.pidfd_open(helper.pid)
        except ProcessLookupError:   # it has exited and been reaped already: nothing to wait for
            fd = None
        self._helpers.setdefault(cid, {})[helper] = fd

    def discard(self, cid: str, helper: Helper) -> None:
        """The copy of `helper` is over (its helper killed and waited for if it still ran)."""
        helpers = self._helpers.get(cid, {})
        if helper in helpers:
            fd = helpers.pop(helper)
            if fd is not None:
                os.close(fd)
            if not helpers:
                del self._helpers[cid]
        self._ended.pop(helper, None)

    def ended_error(self, helper: Helper) -> errors.DockyardError | None:
        """The copy's error if its helper was ended here."""
        return errors.Conflict(self._ended[helper]) if helper in self._ended else None

    async def end(self, cid: str, words: str = ENDED_WORDS) -> None:
        """Kill the helpers of the copies of `cid` and wait until they are gone, their
        namespace copies (and overlay mounts) with them; their copies fail with a Conflict in
        `words`. ServerError if one outlives its SIGKILL."""
        helpers = self._helpers.pop(cid, {})
        self._ended.update(dict.fromkeys(helpers, words))
        fds = [fd for fd in helpers.values() if fd is not None]
        try:
            for fd in fds:   # all first: they die together
                try:
                    signal.pidfd_send_signal(fd, signal.SIGKILL)
                except ProcessLookupError:   # exited (and reaped) already
                    pass
            for fd in fds:
                if not await _exited(fd, EXIT_WAIT):
                    raise errors.ServerError("a copy of the container did not end when killed: its files "
                                             "are not mounted again while it may hold them")
        finally:
            for fd in fds:
                os.close(fd)


async def _exited(fd: int, timeout: float) -> bool:
    """Whether the process of pidfd `fd` exits within `timeout` seconds (or has)."""
    loop = asyncio.get_running_loop()
    gone = loop.create_future()
    loop.add_reader(fd, lambda: gone.done() or gone.set_result(None))
    try:
        await asyncio.wait_for(gone, timeout)
        return True
    except asyncio.TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)
