"""A build's RUN step: its container made, run, followed, committed and removed in one call.

One call holds the whole step, so the step's container shares the fate of its caller:
a builder that goes away (or a client that hangs up on its build) has its call cancelled,
and the container is killed and removed here. At the supervisor's start, step containers
left by a supervisor that went away mid-step are removed (`sweep`): no build holds them.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from services.common import errors, locator, wire

from . import logs
from .commit import Snapshots
from .create import Creator
from .lifecycle import KILL_GRACE, Lifecycle
from .records import Records

log = logging.getLogger("supervisor")

_ALL_OUTPUT = {"stdout": True, "stderr": True, "since_ns": 0, "until_ns": 0, "tail": -1, "timestamps": False,
               "details": False}


class BuildSteps:
    def __init__(self, records: Records, creator: Creator, lifecycle: Lifecycle, snapshots: Snapshots,
                 clients: wire.Clients):
        self.records = records
        self.creator = creator
        self.lifecycle = lifecycle
        self.snapshots = snapshots
        self.clients = clients

    def handlers(self) -> dict:
        return {"container.build_step": self.build_step}

    async def build_step(self, call: wire.Call):
        p = call.params
        cid = self.creator.make(p["config"], p["host_config"], None, None, build_step=True)
        finished = False   # ran to its end: not cut short by its caller or a failure
        try:
            yield {"container": cid}
            async with self.records.lock(cid):
                await self.lifecycle.start_locked(self.records.load(cid))
            rec = self.records.load(cid)
            async for meta, data in self._output(rec):
                yield {"fd": meta["fd"]}, data
            await self.lifecycle.until_exited(cid, None)
            rec = self.records.load(cid)
            code = rec["State"]["ExitCode"]
            image = None
            if code == 0:
                c = p["commit"]
                image = await self.snapshots.commit_record(rec, c["config"], c["container_config"], c["created_by"],
                                                           author=c["author"])
            finished = True
            yield {"exit_code": code, "image": image}
        finally:
            if p["keep"] and finished:
                await asyncio.shield(self._keep(cid))
            else:
                await asyncio.shield(self.remove(cid))

    async def _output(self, rec: dict):
        """Every line the step writes, as it writes it: followed at its shim; read from its log
        if the shim is gone before it said anything (it exited at once)."""
        said = False
        try:
            async for chunk in locator.stream(self.clients, rec["Id"], rec["State"]["Pid"], "shim.logs",
                                              _ALL_OUTPUT):
                if chunk[1]:   # (the first, empty, says where the follow starts)
                    said = True
                    yield chunk
            return
        except errors.Unavailable:
            if said:
                return
        await self.lifecycle.until_exited(rec["Id"], None)
        try:
            async for chunk in logs.stored(self.creator.settings.data_root, rec, {1, 2}):
                yield chunk
        except errors.NotImplementedYet:
            return   # the daemon's log driver keeps none

    async def _keep(self, cid: str) -> None:
        """The build keeps its step's container (rm=0): from now on it is like any other."""
        async with self.records.lock(cid):
            if self.records.exists(cid):
                rec = self.records.load(cid)
                rec["Dockyard"]["build_step"] = False
                self.records.save(rec)

    async def remove(self, cid: str) -> None:
        """Kill the step's container if it runs, and remove it."""
        if not self.records.exists(cid):
            return
        async with self.records.lock(cid):
            if not self.records.exists(cid):
                return
            rec = self.records.load(cid)
            if rec["State"]["Running"]:
                await self.lifecycle.shims.signal(rec, signal.SIGKILL)
                await self.lifecycle.until_exited(cid, KILL_GRACE)
            if self.records.exists(cid):
                await self.lifecycle.remove_locked(self.records.load(cid), volumes=True)

    async def sweep(self) -> None:
        """Remove the step containers no build holds any more (a supervisor before this one
        went away mid-step)."""
        for rec in self.records.all():
            if rec["Dockyard"].get("build_step"):
                log.info("removing build step container %s: its build is gone", rec["Id"][:12])
                await self.remove(rec["Id"])
