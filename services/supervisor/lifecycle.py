"""A container's lifecycle: start, stop, kill, restart, wait, remove, and recording its exits.

Each change holds the container's lock, loads its record once, moves its State through
states.apply and saves it once. Waiters (wait, stop, started) are futures told at the
moment a start, an exit or a removal is recorded, never a poll.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
import shutil
import signal
import tempfile
from typing import NoReturn

from services.common import container_files, errors, layout, wire
from services.common.config import Settings
from services.common.store import Store
from services.kernel.cgroups import Cgroup, prime_migration

from . import bundle, execs, health, namespaces, run_events, spec, states
from .networks import legacy_links, modes
from .networks.bridge import Bridges
from .events import container_event
from .mounts import Mounts
from .records import Records
from .restarts import Restarts, logged
from .shims import Channel, Shims, proc_start

log = logging.getLogger("supervisor")

DEFAULT_STOP_TIMEOUT = 10
KILL_GRACE = 10


def _tell(table: dict[str, asyncio.Future], cid: str, value) -> None:
    future = table.pop(cid, None)
    if future is not None and not future.done():
        future.set_result(copy.deepcopy(value))


class Lifecycle:
    def __init__(self, settings: Settings, records: Records, shims: Shims, mounts: Mounts, store: Store,
                 bridges: Bridges):
        self.settings = settings
        self.bridges = bridges
        self.records = records
        self.shims = shims
        self.mounts = mounts
        self.store = store
        self.staging = layout.staging_dir(settings.data_root, "supervisor")
        self.restarts = Restarts(records, self.start_locked)
        self.next_exits: dict[str, asyncio.Future] = {}   # -> State at its next recorded exit
        self.removals: dict[str, asyncio.Future] = {}     # -> its final State, at its removal
        self.starts: dict[str, asyncio.Future] = {}       # -> (pid, serving) at its next start
        self.serving: dict[str, asyncio.Future] = {}      # running -> its shim serves
        self.watchers: dict[str, asyncio.Task] = {}
        self.started_hooks: list = []   # told of each container that runs (a start, an adoption)
        # Awaited at each start (its lock held) before anything is made: what must end before
        # the container's overlay is mounted again (the copies that hold the last one).
        self.starting_hooks: list = []
        # Told of each container that stopped running, or did not start after all (its id).
        self.stopped_hooks: list = []
        # Awaited at each removal (its lock held) before its files go: what still reads them.
        self.removing_hooks: list = []

    def handlers(self) -> dict:
        return {f"container.{name}": getattr(self, name)
                for name in ("start", "stop", "restart", "kill", "wait", "started", "remove")}

    def _future(self, table: dict[str, asyncio.Future], cid: str) -> asyncio.Future:
        """The future of `table` for `cid`: made by the first who waits for it."""
        if cid not in table:
            table[cid] = asyncio.get_running_loop().create_future()
        return table[cid]

    # ------------------------------------------------------------------ start

    async def start(self, call: wire.Call) -> dict:
        cid = self.records.resolve(call.params["id"])
        async with self.records.lock(cid):
            rec = self.records.load(cid)
            states.check("start", rec["State"]["Status"], cid)
            self.restarts.started_by_client(rec)
            await self.start_locked(rec)
        return {}

    async def start_locked(self, rec: dict) -> None:
        """Start the container of `rec` (its lock held); save the record once, started or not."""
        cid = rec["Id"]
        states.check("started", rec["State"]["Status"], cid)
        asyncio.get_running_loop().run_in_executor(None, prime_migration)  # not awaited: see there
        d = container_files.paths(self.settings.data_root, cid)
        lowers = [self.store.layer_path(row["chain_id"]) for row in self.store.chain(rec["Image"])]
        try:
            for hook in self.starting_hooks:
                await hook(cid)
            shared = namespaces.at_start(rec, self.records)   # the PID and IPC namespaces it joins
            network = await self._network(rec)
            with open(d["config"], "w") as fh:   # one dumps (json's C encoder), not dump's many writes
                fh.write(json.dumps(bundle.oci_config(rec, d, lowers, network, shared)))
            if os.path.exists(d["exit"]):
                os.unlink(d["exit"])
            report, channel = await self.shims.spawn(cid)
        except errors.DockyardError as exc:   # a network it names is not there, a port is taken...
            await self._not_started(rec, exc.message, 128, exc)
        except Exception as exc:   # the kernel refused: still a start that failed, recorded as one
            log.exception("starting %s", cid[:12])
            await self._not_started(rec, str(exc), 128, errors.ServerError(f"cannot start the container: {exc}"))
        except BaseException:   # cancelled: what was wired for it goes
            await self.bridges.unplug_all(rec)
            self._stopped(cid)
            raise
        if channel is None:
            await self._not_started(rec, report["error"], report["exit_code"], errors.BadParameter(
                f"failed to create task for container: {report['error']}"))
        states.apply(rec, "started", pid=report["pid"], started_at=report["started_at"],
                     probed=health.probe_of(rec["Config"]) is not None)
        rec["Dockyard"].update({"shim_pid": report["shim_pid"], "shim_start": proc_start(report["shim_pid"]),
                                "pid_start": proc_start(report["pid"])})
        self.records.save(rec)
        run_events.started(rec, self.bridges.networks)   # connect to each network, then start
        self.bridges.published(rec)
        self.serving[cid] = channel.serving
        self.watchers[cid] = logged(asyncio.ensure_future(self._watch(rec, channel)), cid)
        _tell(self.starts, cid, report["pid"])
        for hook in self.started_hooks:
            hook(rec)

    async def _network(self, rec: dict) -> modes.Joined:
        """What the container's network mode joins at this start; its endpoints on bridge
        networks wired (`rec` updated)."""
        if rec.get("NetworkSettings") is None:   # a record from before networks
            rec["NetworkSettings"] = modes.settings_at_create(rec["HostConfig"], None, self.bridges.networks.find)
        network = modes.at_start(rec, self.records, self.settings.data_root)
        if network is None:
            network = modes.Joined({"type": "network", "path": await self.bridges.plug_all(rec)},
                                   env=legacy_links.environment(rec, self.records))
        return network

    async def _not_started(self, rec: dict, why: str, exit_code: int, error: errors.DockyardError) -> NoReturn:
        """Record a start that failed, tell whoever waits for the start, and raise `error`."""
        await self.bridges.unplug_all(rec)
        self.records.save(states.apply(rec, "start_failed", error=why, exit_code=exit_code))
        container_event(rec, "die", exitCode=exit_code, execDuration=0)   # as dockerd, a start that failed dies
        self._stopped(rec["Id"])
        starting = self.starts.pop(rec["Id"], None)
        if starting is not None and not starting.done():
            starting.set_exception(error)
        if rec["HostConfig"].get("AutoRemove"):
            # As dockerd: a --rm container that cannot start is removed (the docker CLI
            # waits for that removal before it reports the error).
            await self.remove_locked(rec, volumes=True)
        raise error

    async def started(self, call: wire.Call) -> dict:
        """The pid of the container's process once it runs (at once if it does already), and
        once its shim serves: an attach made before the start goes to the shim next."""
        rec = self.records.find(call.params["id"])
        cid = rec["Id"]
        pid = rec["State"]["Pid"] if rec["State"]["Running"] else await asyncio.shield(self._future(self.starts, cid))
        serving = self.serving.get(cid)
        if serving is not None:
            await asyncio.shield(serving)
        return {"pid": pid}

    # ------------------------------------------------------------------ exits

    def adopt(self, rec: dict) -> None:
        """Watch a container this supervisor did not start (it runs under a live shim)."""
        self.watchers[rec["Id"]] = logged(asyncio.ensure_future(self._watch(rec, None)), rec["Id"])
        if rec["State"]["Running"]:
            for hook in self.started_hooks:
                hook(rec)

    async def _watch(self, rec: dict, channel: Channel | None) -> None:
        """Wait for the container's exit and record it; then its removal or its restart."""
        cid = rec["Id"]
        result = await self.shims.exit_of(rec, channel)
        self.watchers.pop(cid, None)
        self.serving.pop(cid, None)
        if not self.records.exists(cid):
            return
        rec = self.records.load(cid)
        states.apply(rec, "exited", **result)
        rec["Dockyard"]["exits"] = rec["Dockyard"].get("exits", 0) + 1
        # Its addresses given back in the record it saves, with no wait between the load and
        # the save (a connect holding its lock may be saving too); the kernel's part after.
        unwired = self.bridges.release_all(rec)
        # A restart the policy asks for is in the same save: no wait sees it merely exited.
        restart = None if rec["HostConfig"].get("AutoRemove") else self.restarts.due(rec)
        await self.records.save_until_it_works(rec, "the exit of")
        run_events.exited(rec, self.bridges.networks)   # oom, disconnect from each network, die
        self._stopped(cid)
        try:
            await self.bridges.finish(rec, *unwired)
        except Exception:   # the exit is recorded whatever; a restart's sweep takes what is left
            log.exception("unwiring the network of %s", cid[:12])
        self.bridges.published(rec)
        _tell(self.next_exits, cid, rec["State"])
        if rec["HostConfig"].get("AutoRemove"):
            async with self.records.lock(cid):
                if self.records.exists(cid):
                    await self.remove_locked(self.records.load(cid), volumes=True)
        elif restart is not None:
            self.restarts.schedule(cid, restart)

    def _stopped(self, cid: str) -> None:
        for hook in self.stopped_hooks:
            try:
                hook(cid)
            except Exception:   # what a hook undoes is its own; the exit is recorded whatever
                log.exception("after %s stopped", cid[:12])

    async def until_exited(self, cid: str, timeout: float | None) -> bool:
        """Whether the container is not running (now, or by the end of `timeout`)."""
        if not self.records.exists(cid) or not self.records.load(cid)["State"]["Running"]:
            return True
        try:
            await asyncio.wait_for(asyncio.shield(self._future(self.next_exits, cid)), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def wait(self, call: wire.Call) -> dict:
        rec = self.records.find(call.params["id"])
        cid, state = rec["Id"], rec["State"]
        condition = call.params.get("condition") or "not-running"
        if condition not in ("not-running", "next-exit", "removed"):
            raise errors.BadParameter(f"invalid condition: {json.dumps(condition)}")
        if condition == "removed":
            state = await asyncio.shield(self._future(self.removals, cid))
        elif condition == "next-exit":
            # The next exit after those the caller saw (the api counts them before it answers
            # the client, which may then start the container at once).
            seen = call.params.get("exits")
            seen = rec["Dockyard"].get("exits", 0) if seen is None else seen
            while rec["Dockyard"].get("exits", 0) <= seen:
                state = await asyncio.shield(self._future(self.next_exits, cid))
                if not self.records.exists(cid):
                    break
                rec = self.records.load(cid)
                state = rec["State"]
        elif state["Running"] or state["Status"] == states.RESTARTING:
            # Docker counts one waiting to restart as running: its next exit ends the wait.
            state = await asyncio.shield(self._future(self.next_exits, cid))
        return {"exit_code": state["ExitCode"], "error": state["Error"]}

    # ------------------------------------------------------- stop, kill, restart

    async def stop(self, call: wire.Call) -> dict:
        spec.signal_number(call.params.get("signal"))   # a bad one refused before anything is done
        cid = self.records.resolve(call.params["id"])
        async with self.records.lock(cid):
            rec = self.records.load(cid)
            states.check("stop", rec["State"]["Status"], cid)
            self._stopped_by_client(rec)
            if rec["State"]["Running"]:
                await self._stop(rec, call.params.get("timeout"), call.params.get("signal"))
                container_event(rec, "stop")
        return {}

    def _stopped_by_client(self, rec: dict) -> None:
        """No restart policy applies to it any more (saved); one that waited to restart has
        stopped, and its waiters are told, as a waiter for a restarting container waits for
        it to stop."""
        restarting = rec["State"]["Status"] == states.RESTARTING
        self.restarts.stopped_by_client(rec)
        self.records.save(rec)
        if restarting:
            _tell(self.next_exits, rec["Id"], rec["State"])

    async def _stop(self, rec: dict, timeout: int | None, signal_name: str | None = None) -> None:
        """Its stop signal (or `signal_name`), then SIGKILL after `timeout` seconds (none: its
        Config.StopTimeout, else Docker's 10; < 0: never)."""
        cid = rec["Id"]
        if timeout is None:
            timeout = rec["Config"].get("StopTimeout")
        timeout = DEFAULT_STOP_TIMEOUT if timeout is None else timeout
        number = spec.signal_number(signal_name or rec["Config"].get("StopSignal"), signal.SIGTERM)
        container_event(rec, "kill", signal=number)
        await self.shims.signal(rec, number)
        await self.thaw_if_paused(rec)
        if timeout < 0:
            await self.until_exited(cid, None)
            return
        if not await self.until_exited(cid, timeout):
            container_event(rec, "kill", signal=int(signal.SIGKILL))
            await self.shims.signal(rec, signal.SIGKILL)
            await self.thaw_if_paused(rec)
            if not await self.until_exited(cid, KILL_GRACE):
                raise errors.ServerError(f"container {cid[:12]} did not stop after SIGKILL")

    async def thaw_if_paused(self, rec: dict) -> None:
        """Thaw a paused container after a signal that stops it: its frozen processes take
        the signal only then (as dockerd resumes it after its kill). Recorded unpaused if it
        has not exited meanwhile (the record loaded again: its exit may be saved already)."""
        if rec["State"]["Status"] != states.PAUSED:
            return
        try:
            await asyncio.to_thread(Cgroup(rec["Dockyard"]["cgroup"]).thaw)
        except OSError as exc:
            log.warning("thawing %s: %s", rec["Id"][:12], exc)
            return
        if self.records.exists(rec["Id"]):
            now = self.records.load(rec["Id"])
            if now["State"]["Status"] == states.PAUSED:
                self.records.save(states.apply(now, "unpaused"))

    async def restart(self, call: wire.Call) -> dict:
        spec.signal_number(call.params.get("signal"))
        cid = self.records.resolve(call.params["id"])
        async with self.records.lock(cid):
            self.restarts.cancel(cid)
            rec = self.records.load(cid)
            if rec["State"]["Running"]:
                await self._stop(rec, call.params.get("timeout"), call.params.get("signal"))
                container_event(rec, "stop")
                rec = self.records.load(cid)
            states.check("restart", rec["State"]["Status"], cid)
            self.restarts.started_by_client(rec)
            await self.start_locked(rec)
            container_event(rec, "restart")
        return {}

    async def kill(self, call: wire.Call) -> dict:
        """A signal (SIGKILL if none is named) to the container's process; every refusal in
        dockerd's words, "cannot kill container: <the name asked>: ..."."""
        ref = call.params["id"]
        try:
            return await self._kill(ref, call.params.get("signal"))
        except errors.DockyardError as exc:
            raise type(exc)(f"cannot kill container: {ref}: {exc.message}") from None

    async def _kill(self, ref: str, signal_name: str | None) -> dict:
        number = spec.signal_number(signal_name)   # before the container is looked for, as dockerd
        rec = self.records.find(ref)
        cid = rec["Id"]
        if rec["State"]["Status"] not in states.ALLOWED["kill"]:
            raise errors.Conflict(f"container {cid} is not running")
        # As dockerd: SIGKILL or the container's stop signal ends its restart policy.
        stopping = number in (signal.SIGKILL, spec.signal_number(rec["Config"].get("StopSignal"), signal.SIGTERM))
        if not stopping:
            if not rec["State"]["Running"]:
                raise errors.Conflict(f"Container {cid[:12]} is restarting, wait until the container is running")
        else:
            self._stopped_by_client(rec)
            if not rec["State"]["Running"]:
                return {}  # it was waiting to restart: now it will not
        container_event(rec, "kill", signal=number)
        await self.shims.signal(rec, number)
        if stopping:
            await self.thaw_if_paused(rec)
        if number == signal.SIGKILL:
            await self.until_exited(cid, KILL_GRACE)
        return {}

    # ----------------------------------------------------------------- remove

    async def remove(self, call: wire.Call) -> dict:
        cid = self.records.resolve(call.params["id"])
        async with self.records.lock(cid):
            rec = self.records.load(cid)
            waiting = rec["State"]["Status"] == states.RESTARTING
            if (rec["State"]["Running"] or waiting) and not call.params["force"]:   # as dockerd, a 409
                states.check("remove", rec["State"]["Status"], cid)
            if rec["State"]["Running"]:
                container_event(rec, "kill", signal=int(signal.SIGKILL))
                await self.shims.signal(rec, signal.SIGKILL)
                await self.thaw_if_paused(rec)
                await self.until_exited(cid, KILL_GRACE)
            if self.records.exists(cid):
                await self.remove_locked(self.records.load(cid), call.params["volumes"])
        return {}

    async def remove_locked(self, rec: dict, volumes: bool) -> None:
        """Remove the container of `rec` (its lock held): its files, cgroup and record."""
        cid = rec["Id"]
        self.restarts.cancel(cid)
        self.records.save(states.apply(rec, "removing"))
        for hook in self.removing_hooks:
            await hook(cid)
        await self.bridges.unplug_all(rec)   # nothing left to undo but after a crash
        d = container_files.paths(self.settings.data_root, cid)
        doomed = tempfile.mkdtemp(dir=self.staging)
        if os.path.exists(d["dir"]):
            os.rename(d["dir"], os.path.join(doomed, "c"))
        try:
            await asyncio.to_thread(Cgroup(rec["Dockyard"]["cgroup"]).destroy)
        except OSError as exc:
            log.warning("removing the cgroup of %s: %s", cid[:12], exc)
        # A lingering shim still serves late attaches (docker run --rm attaches to a
        # container that may be gone already); its socket goes when it does.
        self.shims.unlink_socket_after(rec)
        self.shims.forget_runc_state(cid)
        self.records.delete(cid)
        container_event(rec, "destroy")
        execs.forget(self.records.conn, cid)
        if volumes:
            self.mounts.remove_anonymous(rec)
        await asyncio.to_thread(shutil.rmtree, doomed, True)
        _tell(self.removals, cid, rec["State"])
        _tell(self.next_exits, cid, rec["State"])
        starting = self.starts.pop(cid, None)
        if starting is not None and not starting.done():
            starting.set_exception(errors.NotFound(f"No such container: {cid}"))
