"""supervisor.running_copies: a start ends the copies' helpers of its container, and has
waited for their exits when it goes on, whether or not anyone reads their output."""

from __future__ import annotations

import asyncio
import os

from services.common import errors
from services.supervisor.running_copies import ENDED_WORDS, RunningCopies


def alive(pid: int) -> bool:
    """Whether `pid` is a process that has not exited (a zombie has)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def _spawn(*argv: str) -> asyncio.subprocess.Process:
    # Its stdout filled and never read: the asyncio process's wait() would not return.
    return await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE)


def test_a_start_ends_its_containers_copies_and_only_theirs():
    async def run() -> None:
        copies = RunningCopies()
        talking, other = await _spawn("yes"), await _spawn("cat")
        copies.add("c1", talking)
        copies.add("c2", other)
        await copies.end("c1")
        assert not alive(talking.pid) and alive(other.pid)
        error = copies.ended_error(talking)
        assert isinstance(error, errors.Conflict) and error.message == ENDED_WORDS
        assert copies.ended_error(other) is None
        copies.discard("c1", talking)
        assert copies.ended_error(talking) is None
        await copies.end("c1")   # nothing left of it: nothing to do
        copies.discard("c2", other)
        await copies.end("c2")   # a copy that is over is not the start's to end
        assert alive(other.pid)
        other.kill()
        await other.wait()
        await talking.stdout.read()   # what it wrote before it was killed: then its end
        assert await talking.wait() == -9

    fds = len(os.listdir("/proc/self/fd"))
    asyncio.run(run())
    assert len(os.listdir("/proc/self/fd")) == fds   # the pidfds closed
