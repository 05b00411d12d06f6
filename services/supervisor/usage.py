"""`docker top` and `docker stats`: what a container's processes are, and what they use.

container.top runs the host's `ps` as dockerd does (with ps_args, `-ef` by default, and
`-q <pids>` first, again without it if ps refuses the mix) and keeps the rows whose PID
is in the container's cgroup. container.stats reads one sample of the container's
cgroup files (services.kernel.cgroups.usage), /proc/stat and the container's
/proc/<pid>/net/dev, shaped as Docker's stats object; the api streams them.
"""

from __future__ import annotations

import asyncio
import os
import subprocess

from services.common import errors, timefmt, wire
from services.kernel.cgroups import Cgroup
from services.kernel.cgroups import usage as readers

from . import hostinfo
from .records import Records

PS_TIMEOUT = 20.0


def _check_running(rec: dict) -> None:
    cid, state = rec["Id"], rec["State"]
    if state.get("Restarting"):
        raise errors.Conflict(f"Container {cid} is restarting, wait until the container is running")
    if not state.get("Running"):
        raise errors.Conflict(f"Container {cid} is not running")


def parse_ps(output: str, pids: list[int]) -> tuple[list[str], list[list[str]]]:
    """ps's titles, and its rows whose PID is one of `pids` (the last column keeps its spaces)."""
    lines = output.splitlines()
    titles = lines[0].split() if lines else []
    if "PID" not in titles:
        raise errors.ServerError("Couldn't find PID field in ps output")
    index, wanted, processes = titles.index("PID"), set(pids), []
    for line in lines[1:]:
        fields = line.split()
        if len(fields) <= index:
            continue
        try:
            pid = int(fields[index])
        except ValueError:
            raise errors.ServerError(f"Unexpected pid '{fields[index]}': not a number") from None
        if pid in wanted:
            processes.append(fields[:len(titles) - 1] + [" ".join(fields[len(titles) - 1:])])
    return titles, processes


def run_ps(ps_args: str, pids: list[int]) -> str:
    """ps's output; BadParameter with ps's first line of complaint if it fails."""
    args = ps_args.split() or ["-ef"]
    result = None
    if pids:
        result = subprocess.run(["ps", *args, "-q", ",".join(map(str, pids))], capture_output=True, text=True,
                                timeout=PS_TIMEOUT)
    if result is None or result.returncode != 0:
        # some options (f...) cannot go with -q: again without it, as dockerd does
        result = subprocess.run(["ps", *args], capture_output=True, text=True, timeout=PS_TIMEOUT)
    if result.returncode != 0:
        first = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[0]
        raise errors.BadParameter(f"ps: {first}")
    return result.stdout


def _zero_cpu() -> dict:
    return {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}


def zero_stats(rec: dict) -> dict:
    """The object dockerd answers for a container that does not run: its name and id, zeros."""
    return {"read": timefmt.ZERO, "preread": timefmt.ZERO, "pids_stats": {},
            "blkio_stats": dict.fromkeys(readers.BLKIO_KEYS), "num_procs": 0, "storage_stats": {},
            "cpu_stats": _zero_cpu(), "precpu_stats": _zero_cpu(), "memory_stats": {},
            "name": rec["Name"], "id": rec["Id"]}


def _read(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return ""


def sample(rec: dict, host_total: int | None = None) -> dict:
    """One stats sample of a running container (precpu_stats zeros: the api fills them)."""
    cg = Cgroup(rec["Dockyard"]["cgroup"])
    pid = rec["State"].get("Pid") or 0
    host_total = hostinfo.mem_total() if host_total is None else host_total
    online = os.sysconf("SC_NPROCESSORS_ONLN")
    stats = {
        "read": timefmt.now(), "preread": timefmt.ZERO,
        "pids_stats": readers.pids_stats(cg), "blkio_stats": readers.blkio_stats(cg), "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": readers.cpu_stats(cg, readers.system_cpu_usage(_read("/proc/stat")), online),
        "precpu_stats": _zero_cpu(),
        "memory_stats": readers.memory_stats(cg, host_total),
        "name": rec["Name"], "id": rec["Id"],
    }
    nets = readers.networks(_read(f"/proc/{pid}/net/dev")) if pid else {}
    if nets:
        stats["networks"] = nets
    return stats


class Usage:
    def __init__(self, records: Records):
        self.records = records

    def handlers(self) -> dict:
        return {"container.top": self.top, "container.stats": self.stats}

    async def top(self, call: wire.Call) -> dict:
        rec = self.records.find(call.params["id"])
        _check_running(rec)
        pids = Cgroup(rec["Dockyard"]["cgroup"]).pids()
        try:
            output = await asyncio.to_thread(run_ps, call.params["ps_args"] or "-ef", pids)
        except subprocess.TimeoutExpired:
            raise errors.ServerError("ps: timed out") from None
        except FileNotFoundError:
            raise errors.ServerError("ps: executable file not found in $PATH") from None
        titles, processes = parse_ps(output, pids)
        return {"titles": titles, "processes": processes}

    async def stats(self, call: wire.Call) -> dict:
        rec = self.records.find(call.params["id"])
        if not rec["State"].get("Running"):
            return {"running": False, "stats": zero_stats(rec)}
        return {"running": True, "stats": await asyncio.to_thread(sample, rec)}
