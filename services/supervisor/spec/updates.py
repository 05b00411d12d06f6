"""An update's body (POST /containers/{id}/update: Docker's Resources and RestartPolicy)
merged into a container's HostConfig, as dockerd merges it (container.UpdateContainer).

A setting dockerd updates changes when the body sets it (not zero): Memory, MemorySwap,
MemoryReservation, KernelMemory, NanoCpus, CpuShares, CpuPeriod, CpuQuota, CpuRealtime*,
CpusetCpus, CpusetMems, BlkioWeight; PidsLimit when given (0 or below: none); the restart
policy when it names one. Dockyard updates the other cgroup limits too when they are given
(MemorySwappiness, OomKillDisable, the Blkio device lists), which dockerd takes and drops;
the rest of Resources (CgroupParent, Devices, Ulimits, Init...) is checked and left as it is.
`changes` is what a running container's cgroup is told of it: the whole merged resources (as
dockerd tells runc), and what takes away what the update took away.
"""

from __future__ import annotations

import copy

from services.common import errors

from . import resources
from .types import INT, RESOURCES_TYPES, STR, _check

UPDATE_TYPES = {**RESOURCES_TYPES, "RestartPolicy": {"Name": STR, "MaximumRetryCount": INT}}
SET_WHEN_NOT_ZERO = ("BlkioWeight", "CpuShares", "NanoCpus", "CpuPeriod", "CpuQuota", "CpusetCpus", "CpusetMems",
                     "Memory", "MemorySwap", "MemoryReservation", "KernelMemory", "CpuRealtimePeriod",
                     "CpuRealtimeRuntime")
SET_WHEN_GIVEN = ("PidsLimit", "MemorySwappiness", "OomKillDisable", *resources.DEVICE_LISTS)
RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")
# HostConfig field -> where it goes in the OCI linux.resources.
OCI_PLACES = {"Memory": ("memory", "limit"), "MemoryReservation": ("memory", "reservation"),
              "KernelMemory": ("memory", "kernel"), "MemorySwappiness": ("memory", "swappiness"),
              "OomKillDisable": ("memory", "disableOOMKiller"), "CpuShares": ("cpu", "shares"),
              "CpuPeriod": ("cpu", "period"), "CpuQuota": ("cpu", "quota"),
              "CpuRealtimePeriod": ("cpu", "realtimePeriod"), "CpuRealtimeRuntime": ("cpu", "realtimeRuntime"),
              "CpusetCpus": ("cpu", "cpus"), "CpusetMems": ("cpu", "mems"), "PidsLimit": ("pids", "limit"),
              "BlkioWeight": ("blockIO", "weight"), "BlkioWeightDevice": ("blockIO", "weightDevice"),
              **{field: ("blockIO", key) for field, key in resources.OCI_THROTTLES.items()}}


def restart_policy(policy: dict | None) -> dict | None:
    """An update's RestartPolicy checked as dockerd's ValidateRestartPolicy does; None when
    it names none (the policy stays)."""
    name, most = (policy or {}).get("Name") or "", (policy or {}).get("MaximumRetryCount") or 0
    if not name:
        return None
    if name not in RESTART_POLICIES:
        raise errors.BadParameter(f"invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', "
                                  "'on-failure', or 'unless-stopped'")
    if name != "on-failure" and most:
        raise errors.BadParameter("invalid restart policy: maximum retry count can only be used with 'on-failure'"
                                  + (" and cannot be negative" if most < 0 else ""))
    if most < 0:
        raise errors.BadParameter("invalid restart policy: maximum retry count cannot be negative")
    return {"Name": name, "MaximumRetryCount": most}


def read(body) -> tuple[dict, dict | None, list[str]]:
    """An update's body, checked: (its resource settings, its restart policy or None,
    Docker's warnings)."""
    if not isinstance(body, dict):
        raise errors.BadParameter("the update config must be a JSON object")
    _check(body, UPDATE_TYPES, "")
    given, warnings = resources.read(body, update=True)
    for key in SET_WHEN_GIVEN:   # absent stays absent (read() fills in zeroes), discarded too
        if body.get(key) is None or (key in resources.DEVICE_LISTS and body[key] and not given[key]):
            given[key] = None
    return given, restart_policy(body.get("RestartPolicy")), warnings


def _conflict(cid: str, text: str) -> errors.Conflict:
    return errors.Conflict(f"Cannot update container {cid}: {text}")


def merge(host: dict, given: dict, policy: dict | None, cid: str) -> tuple[dict, set[str]]:
    """The HostConfig `host` with the update applied, and the fields it set. Conflict, in
    dockerd's words, for an update that does not fit what the container has."""
    if given["NanoCpus"] > 0 and (host.get("CpuPeriod") or 0) > 0:
        raise _conflict(cid, "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set")
    if given["NanoCpus"] > 0 and (host.get("CpuQuota") or 0) > 0:
        raise _conflict(cid, "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set")
    if given["CpuPeriod"] > 0 and (host.get("NanoCpus") or 0) > 0:
        raise _conflict(cid, "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set")
    if given["CpuQuota"] > 0 and (host.get("NanoCpus") or 0) > 0:
        raise _conflict(cid, "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set")
    if given["Memory"] and given["Memory"] > (host.get("MemorySwap") or 0) and not given["MemorySwap"]:
        raise _conflict(cid, "Memory limit should be smaller than already set memoryswap limit, update the "
                             "memoryswap at the same time")
    if policy is not None and host.get("AutoRemove") and policy["Name"] != "no":
        raise _conflict(cid, "Restart policy cannot be updated because AutoRemove is enabled for the container")
    new = copy.deepcopy(host)
    changed = {key for key in SET_WHEN_NOT_ZERO if given[key]} | {key for key in SET_WHEN_GIVEN
                                                                   if given[key] is not None}
    new.update({key: given[key] for key in changed})
    if policy is not None:
        new["RestartPolicy"] = policy
    return new, changed


def _devices_gone(old: dict, new: dict, field: str) -> list[dict]:
    """The devices of old[field] that new[field] no longer names, as OCI entries of no
    limit (a rate or weight of 0 takes a device's rule away); one gone from the host is skipped."""
    kept, out = {e["Path"] for e in new.get(field) or []}, []
    for entry in old.get(field) or []:
        if entry["Path"] not in kept:
            try:
                major, minor = resources.block_device(entry["Path"], field)
            except errors.BadParameter:
                continue
            out.append({"major": major, "minor": minor, "weight" if field == "BlkioWeightDevice" else "rate": 0})
    return out


def changes(old: dict, new: dict, changed: set[str]) -> dict:
    """The OCI linux.resources that make a running container's cgroup hold `new` (a
    HostConfig merged from `old` by an update that `changed` some fields): all of `new`'s, as
    dockerd sends runc the whole merged Resources, since a v2 file holds several of them
    (cpu.max a quota and a period, memory.swap.max what memory and memory+swap leave); and
    what takes away what the update took away."""
    out = resources.oci(new)
    for field in changed.intersection(resources.DEVICE_LISTS):
        section, key = OCI_PLACES[field]
        value = _devices_gone(old, new, field) + out[section].get(key, [])
        if value:
            out[section][key] = value
    if "MemorySwap" in changed and "swap" not in out.get("memory", {}):   # -1: unlimited swap, unset at a create
        out.setdefault("memory", {})["swap"] = new["MemorySwap"]
    if "NanoCpus" in changed:   # its quota and period; none at all for a HostConfig without them
        cpu = out.setdefault("cpu", {})
        cpu.update(period=cpu.get("period", resources.CFS_PERIOD), quota=cpu.get("quota", -1))
    return out
