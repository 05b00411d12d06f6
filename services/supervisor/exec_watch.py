"""Each started exec watched to its end, so that its end (and Docker's exec_die) is recorded
as it happens, not at the next inspect.

Once exec.start has marked an exec started, a task asks the container's shim for its end
(shim.exec_wait, a call answered when the process has exited) and records it
(Execs.ended: once, whoever learns it first). At the supervisor's start, the execs the
records say were started and were not seen ending are watched again: their shims kept
them while no supervisor ran. An exec goes with its container: one whose container no
longer runs that start, or whose shim is gone, is recorded ended, its exit code unknown.
"""

from __future__ import annotations

import asyncio
import logging

from services.common import errors, locator, wire

from .execs import Execs
from .shims import Shims, alive

log = logging.getLogger("supervisor")

# While a live shim does not answer (busy), how long before it is asked again (its exit
# ends the wait sooner).
RETRY_SECONDS = 0.5


class ExecWatch:
    def __init__(self, execs: Execs, clients: wire.Clients):
        self.execs = execs
        self.clients = clients
        self.tasks: dict[str, asyncio.Task] = {}
        execs.started_hooks.append(self.watch)

    def watch(self, exec_rec: dict) -> None:
        """Watch the started exec of `exec_rec` to its end (once)."""
        exec_id = exec_rec["ID"]
        if exec_id in self.tasks:
            return
        task = self.tasks[exec_id] = asyncio.ensure_future(self._watch(exec_id))
        task.add_done_callback(lambda done: self._done(exec_id, done))

    def adopt(self) -> None:
        """At the supervisor's start: watch again every started exec not seen ending."""
        for exec_rec in self.execs.started_unended():
            self.watch(exec_rec)

    def _done(self, exec_id: str, task: asyncio.Task) -> None:
        self.tasks.pop(exec_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("watching the exec %s", exec_id[:12], exc_info=task.exception())

    async def _watch(self, exec_id: str) -> None:
        while True:
            # Loaded afresh at each turn: an inspect may have recorded the end meanwhile.
            try:
                exec_rec = self.execs.load(exec_id)
                rec = self.execs.records.load(exec_rec["ContainerID"])
            except errors.NotFound:
                return   # removed with its container
            state = rec["State"]
            if exec_rec["Ended"]:
                return
            if not state.get("Running") or state.get("Pid") != exec_rec["ContainerPid"]:
                self.execs.ended(exec_id, None)   # its container's start is over: it went with it
                return
            try:
                answer = await locator.call(self.clients, rec["Id"], exec_rec["ContainerPid"], "shim.exec_wait",
                                            {"exec_id": exec_id}, timeout=None)
            except errors.Conflict:
                self.execs.ended(exec_id, None)   # the shim runs a later start: this one is over
                return
            except errors.Unavailable:
                if self.clients.closed:
                    return   # this supervisor is stopping: the next one watches it
                dock = rec["Dockyard"]
                if alive(dock["shim_pid"], dock["shim_start"]):
                    await Shims.until_gone(dock["shim_pid"], RETRY_SECONDS)   # busy: asked again
                    continue
                self.execs.ended(exec_id, None)   # its shim is gone, and its processes with it
                return
            except errors.DockyardError as exc:
                # A shim that cannot tell (one from before exec_wait): inspect asks it instead.
                log.warning("cannot watch the exec %s: %s", exec_id[:12], exc)
                return
            if answer["known"]:
                self.execs.ended(exec_id, answer["exit_code"], answer["pid"], ran=bool(answer["pid"]))
            else:   # its run never reached the shim before its container exited
                self.execs.ended(exec_id, None, ran=False)
            return
