"""shim.probe: a process run in the container to its end, its exit code and the start of
its output (a health check). The shim reaps it with its other children (`Reaped`)."""

from __future__ import annotations

import asyncio
import os
import signal

from .runtime import StartError, enter

# Docker keeps the first 4 KiB of a probe's output (moby's maxOutputLen).
MAX_OUTPUT = 4096


class Reaped:
    """Exit statuses of the shim's children other than the container's init, for whoever
    waits for one; a child may be reaped before its waiter asks, so those are kept."""

    def __init__(self) -> None:
        self.waiting: dict[int, asyncio.Future] = {}
        self.early: dict[int, int] = {}

    def reaped(self, pid: int, status: int) -> None:
        future = self.waiting.pop(pid, None)
        if future is not None and not future.done():
            future.set_result(status)
        elif len(self.early) < 1024:   # an intermediate nobody waits for leaves no trace for long
            self.early[pid] = status

    def wait(self, pid: int) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        if pid in self.early:
            future.set_result(self.early.pop(pid))
        else:
            self.waiting[pid] = future
        return future


async def run(shim, args: list[str], timeout: float) -> dict:
    """Run `args` in the shim's container; its exit code, output and whether it timed out."""
    loop = asyncio.get_running_loop()
    out_r, out_w = os.pipe()
    shim.probes_run += 1
    try:
        try:
            if shim.runc:
                pid = await asyncio.to_thread(enter.spawn_runc, os.path.dirname(shim.log_path), shim.id,
                                              shim.settings.exec_root, args, out_w, f"probe-{shim.probes_run}")
            else:
                pid = enter.spawn(shim.pid, shim.config, args, out_w, shim.cgroup)
        except StartError as exc:
            return {"exit_code": exc.exit_code, "output": str(exc), "timed_out": False}
        finally:
            os.close(out_w)
        exited = shim.reaped.wait(pid)
        output = bytearray()
        ended = loop.create_future()

        def readable() -> None:
            try:
                data = os.read(out_r, 65536)
            except BlockingIOError:
                return
            if not data:
                loop.remove_reader(out_r)
                if not ended.done():
                    ended.set_result(None)
                return
            output.extend(data[: max(0, MAX_OUTPUT - len(output))])
        os.set_blocking(out_r, False)
        loop.add_reader(out_r, readable)
        try:
            status = await asyncio.wait_for(asyncio.shield(exited), timeout)
        except asyncio.TimeoutError:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await exited
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
            output.extend(data[: max(0, MAX_OUTPUT - len(output))])
        return {"exit_code": 128 - code if code < 0 else code, "output": bytes(output).decode(errors="replace"),
                "timed_out": False}
    finally:
        os.close(out_r)
