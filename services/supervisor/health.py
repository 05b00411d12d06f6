"""Health checks: a container's HEALTHCHECK probed while it runs, its State.Health kept.

As Docker: the probe (Test: `CMD` args, or `CMD-SHELL` run by /bin/sh -c) runs in the
container every Interval (every StartInterval during the StartPeriod), is killed after
Timeout; exit 0 is healthy, and Retries failures in a row unhealthy (failures in the
start period do not count). The last five probes are kept. The probe runs in the
container's shim (shim.probe); a monitor starts at each start and at the supervisor's
start for every running container, and ends when the container does (its status then
unhealthy, as Docker leaves it).
"""

from __future__ import annotations

import asyncio
import logging
import time

from services.common import errors, locator, timefmt, wire

from .events import container_event
from .records import Records

log = logging.getLogger("supervisor")

SECOND = 1_000_000_000
DEFAULTS = {"Interval": 30 * SECOND, "Timeout": 30 * SECOND, "StartPeriod": 0, "StartInterval": 5 * SECOND,
            "Retries": 3}
KEPT = 5
STARTING, HEALTHY, UNHEALTHY = "starting", "healthy", "unhealthy"


def probe_of(config: dict) -> dict | None:
    """The container's health check with Docker's defaults filled in; None without one
    (none given, or Test NONE)."""
    check = config.get("Healthcheck") or {}
    test = check.get("Test") or []
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD":
        args = test[1:]
    elif test[0] == "CMD-SHELL":
        args = ["/bin/sh", "-c", " ".join(test[1:])]
    else:
        return None
    if not args:
        return None
    return {"args": args, **{k: check.get(k) or v for k, v in DEFAULTS.items()}}


def check_config(check) -> None:
    """Docker's refusals of a Healthcheck in a create body."""
    if not check:
        return
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval"):
        value = check.get(key) or 0
        if value and value < 1_000_000:
            raise errors.BadParameter(f"{key} in Healthcheck cannot be less than 1ms")
        if value < 0:
            raise errors.BadParameter(f"{key} in Healthcheck cannot be negative")
    if (check.get("Retries") or 0) < 0:
        raise errors.BadParameter("Retries in Healthcheck cannot be negative")
    test = check.get("Test") or []
    if test and test[0] not in ("NONE", "CMD", "CMD-SHELL"):
        raise errors.BadParameter(f"unknown type of healthcheck test: {test[0]!r} (CMD, CMD-SHELL or NONE)")


def starting() -> dict:
    return {"Status": STARTING, "FailingStreak": 0, "Log": []}


def record_probe(health: dict, result: dict, in_start_period: bool, retries: int) -> dict:
    """Health after one probe's result ({Start, End, ExitCode, Output})."""
    health["Log"] = (health.get("Log") or [])[-(KEPT - 1):] + [result]
    if result["ExitCode"] == 0:
        health.update(Status=HEALTHY, FailingStreak=0)
    elif not (in_start_period and health["Status"] == STARTING):
        health["FailingStreak"] = health.get("FailingStreak", 0) + 1
        if health["FailingStreak"] >= retries:
            health["Status"] = UNHEALTHY
    return health


class Health:
    def __init__(self, records: Records, clients: wire.Clients):
        self.records = records
        self.clients = clients
        self.monitors: dict[str, asyncio.Task] = {}

    def handlers(self) -> dict:
        return {}

    def watch(self, rec: dict) -> None:
        """Probe the container of `rec` (it runs) while it runs, if it has a health check."""
        probe = probe_of(rec["Config"])
        old = self.monitors.pop(rec["Id"], None)
        if old is not None:
            old.cancel()
        if probe is not None:
            task = asyncio.ensure_future(self._monitor(rec["Id"], rec["State"]["Pid"], probe,
                                                       rec["State"]["StartedAt"]))
            self.monitors[rec["Id"]] = task
            task.add_done_callback(lambda t, cid=rec["Id"]: self._ended(cid, t))

    def _ended(self, cid: str, task: asyncio.Task) -> None:
        if self.monitors.get(cid) is task:
            del self.monitors[cid]
        if not task.cancelled() and task.exception() is not None:
            log.warning("the health monitor of %s failed: %r", cid[:12], task.exception())

    def _current(self, cid: str, pid: int) -> dict | None:
        """The record, while the container still runs the process the monitor is for."""
        if not self.records.exists(cid):
            return None
        rec = self.records.load(cid)
        return rec if rec["State"]["Running"] and rec["State"]["Pid"] == pid else None

    async def _monitor(self, cid: str, pid: int, probe: dict, started_at: str) -> None:
        loop = asyncio.get_running_loop()
        try:   # the start period runs from the start, whichever supervisor watched it then
            begun = loop.time() - max(0.0, time.time() - timefmt.parse(started_at).timestamp())
        except ValueError:
            begun = loop.time()
        while True:
            in_start = loop.time() - begun < probe["StartPeriod"] / SECOND
            pause = probe["StartInterval"] if in_start and probe["StartPeriod"] else probe["Interval"]
            await asyncio.sleep(pause / SECOND)
            if self._current(cid, pid) is None:
                return
            timeout = probe["Timeout"] / SECOND
            start = timefmt.now()
            try:
                result = await locator.call(self.clients, cid, pid, "shim.probe",
                                            {"args": probe["args"], "timeout": timeout}, timeout=None)
            except (errors.Unavailable, errors.Conflict):
                return   # its shim is gone or done: the container has exited
            except errors.DockyardError as exc:   # a failed probe, as Docker counts one
                result = {"exit_code": -1, "output": exc.message, "timed_out": False}
            output = (f"Health check exceeded timeout ({timeout:g}s)" if result["timed_out"]
                      else result["output"])
            entry = {"Start": start, "End": timefmt.now(), "ExitCode": result["exit_code"], "Output": output}
            in_start = loop.time() - begun < probe["StartPeriod"] / SECOND
            async with self.records.lock(cid):
                rec = self._current(cid, pid)
                if rec is None:
                    return
                before = (rec["State"].get("Health") or starting())["Status"]
                rec["State"]["Health"] = record_probe(rec["State"].get("Health") or starting(), entry, in_start,
                                                      probe["Retries"])
                self.records.save(rec)
                if rec["State"]["Health"]["Status"] != before:   # as dockerd: a change, not every probe
                    container_event(rec, "health_status: " + rec["State"]["Health"]["Status"])
