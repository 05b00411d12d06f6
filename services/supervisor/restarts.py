"""Restart policies: when a container that exited is started again, and after how long.

no, always, unless-stopped and on-failure[:N], with Docker's backoff: 100 ms, doubling
at each restart up to a minute, back to 100 ms once a start has run for 10 s. A client's
stop or kill ends them until its next start.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from services.common import timefmt

from . import states
from .records import Records

log = logging.getLogger("supervisor")

FIRST_DELAY = 0.1
MAX_DELAY = 60.0
RESET_AFTER = 10.0


def logged(task: asyncio.Task, cid: str) -> asyncio.Task:
    """A container's background task (its watcher, its restart), whose failure nobody
    awaits: logged, not lost."""
    def done(t: asyncio.Task) -> None:
        if not t.cancelled() and t.exception() is not None:
            log.error("a task of container %s failed", cid[:12], exc_info=t.exception())
    task.add_done_callback(done)
    return task


class Restarts:
    def __init__(self, records: Records, start: Callable[[dict], Awaitable[None]]):
        self.records = records
        self._start = start  # starts a container whose lock is held (Lifecycle.start_locked)
        self.pending: dict[str, asyncio.Task] = {}   # restarts waiting out their delay

    def after_exit(self, rec: dict) -> None:
        """Schedule the restart the policy asks for after this exit, if any (saves `rec`)."""
        delay = self.due(rec)
        if delay is not None:
            self.records.save(rec)
            self.schedule(rec["Id"], delay)

    def due(self, rec: dict) -> float | None:
        """After how long the policy restarts the container that exited (None: it does not);
        if it does, `rec` is "restarting" (not saved): whoever learns of the exit from the record
        learns that it restarts, as Docker's waiters do."""
        policy, dock, state = rec["HostConfig"].get("RestartPolicy") or {}, rec["Dockyard"], rec["State"]
        name, most = policy.get("Name") or "no", policy.get("MaximumRetryCount") or 0
        if name == "no" or dock.get("manually_stopped") or rec["Id"] in self.pending:
            return None
        if name == "on-failure" and (state["ExitCode"] == 0 or (most and rec["RestartCount"] >= most)):
            return None
        ran = timefmt.unix(state["FinishedAt"]) - timefmt.unix(state["StartedAt"]) \
            if state["StartedAt"] != timefmt.ZERO and state["FinishedAt"] != timefmt.ZERO else 0
        last = dock.get("restart_delay") or 0
        delay = FIRST_DELAY if ran >= RESET_AFTER or not last else min(2 * last, MAX_DELAY)
        dock["restart_delay"] = delay
        states.apply(rec, "restarting")
        return delay

    def schedule(self, cid: str, delay: float) -> None:
        """The restart `due` found, `delay` seconds from now."""
        task = self.pending[cid] = logged(asyncio.ensure_future(self._later(cid, delay)), cid)
        task.add_done_callback(lambda _: self.pending.pop(cid, None) if self.pending.get(cid) is task else None)

    async def _later(self, cid: str, delay: float) -> None:
        await asyncio.sleep(delay)
        async with self.records.lock(cid):
            if not self.records.exists(cid):
                return
            rec = self.records.load(cid)
            if rec["State"]["Status"] != states.RESTARTING:
                return
            rec["RestartCount"] += 1
            try:
                await self._start(rec)
            except Exception as exc:  # noqa: BLE001 - whatever it was, the policy tries again
                log.warning("restarting %s failed: %s", cid[:12], exc)
                self.pending.pop(cid, None)
                rec = self.records.load(cid)
                if rec["State"]["Status"] == states.RESTARTING:
                    self.records.save(states.apply(rec, "stop_restarting"))
                self.after_exit(rec)  # again, later: the delay grows

    def cancel(self, cid: str) -> None:
        task = self.pending.pop(cid, None)
        if task is not None:
            task.cancel()

    def stopped_by_client(self, rec: dict) -> None:
        """A client's stop or kill ends its restarts (the caller saves `rec`)."""
        rec["Dockyard"]["manually_stopped"] = True
        self.cancel(rec["Id"])
        if rec["State"]["Status"] == states.RESTARTING:
            states.apply(rec, "stop_restarting")

    @staticmethod
    def started_by_client(rec: dict) -> None:
        """A client's start allows them again, from the first delay (the caller saves `rec`)."""
        rec["Dockyard"]["manually_stopped"] = False
        rec["Dockyard"]["restart_delay"] = 0

    def at_daemon_start(self, rec: dict, daemon_started: bool) -> None:
        """An exited container at the supervisor's start: restarted if its policy would have
        restarted it while no supervisor ran; on dockyardd's own start, as on dockerd's, an
        "always" one a client stopped too."""
        policy = (rec["HostConfig"].get("RestartPolicy") or {}).get("Name")
        if policy == "always" and daemon_started and rec["Dockyard"].get("manually_stopped"):
            self.started_by_client(rec)
            self.records.save(rec)
        if policy in ("always", "unless-stopped"):
            self.after_exit(rec)
