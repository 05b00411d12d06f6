"""shim.probe: a process run in the container to its end, its exit code and the start of
its output (a health check). The shim reaps it with its other children (`Reaped`)."""

from __future__ import annotations

import asyncio
import os
import signal
import time

from services.common import runc

from .runtime import StartError, enter

# Docker keeps the first 4 KiB of a probe's output (moby's maxOutputLen).
MAX_OUTPUT = 4096
# A status nobody asked for is kept this long: its waiter may ask just after the reap.
KEEP_UNCLAIMED = 60.0
# After a probe is killed at its timeout, how long its end may take to be reaped.
KILL_GRACE = 5.0


class Reaped:
    """Exit statuses of the shim's children other than the container's init, for whoever
    waits for one. A child may be reaped before its waiter asks (its status is kept a
    while); one nobody will ask for (a probe whose caller went) is dropped."""

    def __init__(self) -> None:
        self.waiting: dict[int, asyncio.Future] = {}
        self.unclaimed: dict[int, tuple[int, float]] = {}
        self.unwanted: set[int] = set()

    def reaped(self, pid: int, status: int) -> None:
        now = time.monotonic()
        for old in [p for p, (_, when) in self.unclaimed.items() if now - when > KEEP_UNCLAIMED]:
            del self.unclaimed[old]
        future = self.waiting.pop(pid, None)
        if future is not None and not future.done():
            future.set_result(status)
        elif pid in self.unwanted:
            self.unwanted.discard(pid)
        else:
            self.unclaimed[pid] = (status, now)

    def unwanted_child(self, pid: int) -> None:
        """Nobody waits for `pid` (reaped already, or to be)."""
        if self.unclaimed.pop(pid, None) is None:
            self.unwanted.add(pid)

    def wait(self, pid: int) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        if pid in self.unclaimed:
            future.set_result(self.unclaimed.pop(pid)[0])
        else:
            self.waiting[pid] = future
        return future


def _kill(pid: int) -> None:
    """The probe and what it started: its process group (it called setsid), or it alone."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
            return
        except (ProcessLookupError, PermissionError):
            continue


async def spawn_runc(shim, args: list[str], stdio: tuple[int, int, int], name: str,
                     process: dict | None = None, console_socket: str | None = None) -> int:
    """`args` under runc: `runc exec --detach` (of `process`, else the bundle's own), its
    stdio (stdin, stdout, stderr; stdin -1: /dev/null) passed through runc to the process,
    or a terminal whose master runc sends to `console_socket`; waited for as the shim's
    child (the shim reaps every child; a blocking wait of runc's own would race it).
    `name` names its files in the bundle."""
    bundle = shim.bundle
    command, pid_path = enter.runc_exec(bundle, shim.id, shim.settings.exec_root, args, name, process,
                                        console_socket)
    logged = enter.runc_log_size(bundle)
    null = os.open(os.devnull, os.O_RDONLY)
    stdin, stdout, stderr = stdio
    try:
        runner = os.posix_spawnp(command[0], command, os.environ, file_actions=[
            (os.POSIX_SPAWN_DUP2, null if stdin < 0 else stdin, 0), (os.POSIX_SPAWN_DUP2, stdout, 1),
            (os.POSIX_SPAWN_DUP2, stderr, 2)])
    finally:
        os.close(null)
    ran = shim.reaped.wait(runner)
    try:
        status = await asyncio.wait_for(asyncio.shield(ran), runc.TIMEOUT)
    except asyncio.TimeoutError:
        _kill(runner)
        enter.runc_exec_done(pid_path)
        raise StartError("runc exec did not finish") from None
    pid = enter.runc_exec_done(pid_path)
    if os.waitstatus_to_exitcode(status) != 0 or pid is None:
        raise enter.runc_error(bundle, logged, f"runc exec failed ({os.waitstatus_to_exitcode(status)})")
    return pid


async def run(shim, args: list[str], timeout: float) -> dict:
    """Run `args` in the shim's container; its exit code, output and whether it timed out.
    A probe that cannot start is a failed probe (its error is its output), as Docker's."""
    loop = asyncio.get_running_loop()
    out_r, out_w = os.pipe()
    shim.probes_run += 1
    try:
        try:
            if shim.runc:
                pid = await spawn_runc(shim, args, (-1, out_w, out_w), f"probe-{shim.probes_run}")
            else:
                pid = enter.spawn(shim.pid, shim.config, args, out_w, shim.cgroup)
        except (StartError, OSError) as exc:
            return {"exit_code": getattr(exc, "exit_code", -1), "output": str(exc), "timed_out": False}
        finally:
            os.close(out_w)
        exited = shim.reaped.wait(pid)
        output = bytearray()

        def take(data: bytes) -> None:
            output.extend(data[: max(0, MAX_OUTPUT - len(output))])

        def readable() -> None:
            try:
                data = os.read(out_r, 65536)
            except BlockingIOError:
                return
            if not data:
                loop.remove_reader(out_r)
                return
            take(data)
        os.set_blocking(out_r, False)
        loop.add_reader(out_r, readable)
        try:
            status = await asyncio.wait_for(asyncio.shield(exited), timeout)
        except asyncio.CancelledError:
            # Its caller went away (a supervisor killed mid-probe): the probe must not live on
            # in the container; the reaper takes its end, which nobody waits for now.
            if not exited.done():
                _kill(pid)
                shim.reaped.waiting.pop(pid, None)
                shim.reaped.unwanted_child(pid)
            raise
        except asyncio.TimeoutError:
            _kill(pid)
            try:
                await asyncio.wait_for(exited, KILL_GRACE)
            except asyncio.TimeoutError:
                shim.reaped.waiting.pop(pid, None)
            return {"exit_code": -1, "output": bytes(output).decode(errors="replace"), "timed_out": True}
        finally:
            loop.remove_reader(out_r)
        code = os.waitstatus_to_exitcode(status)
        # What it started in the background may hold the pipe: its output is what came by now.
        while True:
            try:
                data = os.read(out_r, 65536)
            except BlockingIOError:
                break
            if not data:
                break
            take(data)
        return {"exit_code": 128 - code if code < 0 else code, "output": bytes(output).decode(errors="replace"),
                "timed_out": False}
    finally:
        os.close(out_r)
