"""Docker's create body to the container record: its JSON types checked (spec.types), then
each setting read as Docker reads it, the image's defaults filled in.

Everything a create refuses is refused here, at create, not at the container's first start.
"""

from __future__ import annotations

import os
import signal
import socket
from dataclasses import dataclass

from services.common import errors, timefmt
from services.common.config import RUNTIMES, cgroup_path

from .. import bundle, health, states
from ..networks import ipam, legacy_links
from .types import check, integer, str_list  # noqa: F401 (check: for the room's users)

MIN_MEMORY = 6 << 20
RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")


def signal_number(value: str | None, default: int = signal.SIGKILL) -> int:
    """A signal as Docker's API names it (9, KILL, SIGKILL); absent: `default`."""
    if value in (None, ""):
        return default
    text = str(value).upper()
    if text.isdigit():
        number = int(text)
        if 0 < number < signal.NSIG:
            return number
    else:
        name = text if text.startswith("SIG") else "SIG" + text
        if hasattr(signal.Signals, name):
            return int(signal.Signals[name])
    raise errors.BadParameter(f"Invalid signal: {value}")


def restart_policy(policy, auto_remove: bool) -> dict:
    """HostConfig.RestartPolicy checked as Docker checks it, in its full form."""
    policy = policy or {}
    name, most = policy.get("Name") or "no", policy.get("MaximumRetryCount") or 0
    if name not in RESTART_POLICIES:
        raise errors.BadParameter(f"invalid restart policy: unknown policy '{name}'; use one of "
                                  "'no', 'always', 'on-failure', or 'unless-stopped'")
    if most < 0:
        raise errors.BadParameter("invalid restart policy: maximum retry count must be a positive integer")
    if most and name != "on-failure":
        raise errors.BadParameter("invalid restart policy: maximum retry count can only be used with 'on-failure'")
    if auto_remove and name != "no":
        raise errors.BadParameter("conflicting options: cannot specify both --restart and --rm")
    return {"Name": name, "MaximumRetryCount": most}


def _limits(config: dict, host: dict) -> tuple[int, int, int]:
    """Memory, MemorySwap and CpuShares: HostConfig's, or the top level's (API v1.0)."""
    memory = integer(host.get("Memory") or config.get("Memory"), "Memory")
    memory_swap = integer(host.get("MemorySwap") or config.get("MemorySwap"), "MemorySwap")
    cpu_shares = integer(host.get("CpuShares") or config.get("CpuShares"), "CpuShares")
    if memory and memory < MIN_MEMORY:
        raise errors.BadParameter("Minimum memory limit allowed is 6MB")
    if memory_swap > 0 and memory and memory_swap < memory:
        raise errors.BadParameter("Minimum memoryswap limit should be larger than memory limit, see usage")
    if memory_swap > 0 and not memory:
        raise errors.BadParameter("You should always set the Memory limit when using Memoryswap limit")
    _cpu_limits(host)
    return memory, memory_swap, cpu_shares


def _cpu_limits(host: dict) -> None:
    """CpuPeriod, CpuQuota, CpusetCpus and ShmSize, held to Docker's bounds."""
    period, quota = int(host.get("CpuPeriod") or 0), int(host.get("CpuQuota") or 0)
    if period and not 1000 <= period <= 1000000:
        raise errors.BadParameter("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s "
                                  "(i.e. 1000000)")
    if quota and quota < 1000:
        raise errors.BadParameter("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    if int(host.get("ShmSize") or 0) < 0:
        raise errors.BadParameter("SHM size can not be less than 0")
    cpus = host.get("CpusetCpus") or ""
    if cpus:
        wanted = set()
        for part in cpus.split(","):
            first, _, last = part.partition("-")
            if not first.isdigit() or not (last or first).isdigit() or int(first) > int(last or first):
                raise errors.BadParameter(f"Invalid value {cpus} for cpuset cpus")
            wanted |= set(range(int(first), int(last or first) + 1))
        available = os.sched_getaffinity(0)
        if not wanted <= available:
            raise errors.BadParameter(f"Requested CPUs are not available - requested {cpus}, available: "
                                      f"{','.join(map(str, sorted(available)))}")


def _command(config: dict, image: dict) -> tuple[list[str], list[str]]:
    """Entrypoint and Cmd as Docker merges them with the image's (daemon/commit.go merge):
    with no Entrypoint (null or empty), an empty Cmd is the image's, and a null Entrypoint
    is the image's; together they are the argv."""
    entrypoint, cmd = str_list(config.get("Entrypoint"), "Entrypoint"), str_list(config.get("Cmd"), "Cmd")
    if not entrypoint:
        if not cmd:
            cmd = image.get("Cmd") or []
        if entrypoint is None:
            entrypoint = image.get("Entrypoint") or []
    if not entrypoint and not cmd:
        raise errors.BadParameter("No command specified")
    return list(entrypoint), list(cmd or [])


def _healthcheck(given: dict | None, image: dict | None) -> dict | None:
    """The health check: the body's, each field it leaves unset the image's (as Docker
    merges them); checked."""
    if not given:
        return image or None
    merged = dict(given)
    for key, value in (image or {}).items():
        if not merged.get(key):
            merged[key] = value
    health.check_config(merged)
    return merged


@dataclass
class Made:
    """What create has ready before the record: its id, name and image, where its files go."""
    id: str
    name: str
    image_id: str
    image: dict                 # the image's checked run config
    paths: dict                 # container_files.paths of the container
    mounts: list[dict]
    anonymous_volumes: list[str]
    cgroup_parent: str          # the daemon's
    default_runtime: str        # the daemon's


def record(made: Made, config: dict, host: dict) -> dict:
    """The container record of a create body (already type-checked by `check`)."""
    image, cid = made.image, made.id
    entrypoint, cmd = _command(config, image)
    argv = entrypoint + cmd
    memory, memory_swap, cpu_shares = _limits(config, host)
    env = {e.split("=", 1)[0]: e for e in (image.get("Env") or [])}
    env.update({e.split("=", 1)[0]: e for e in str_list(config.get("Env"), "Env") or []})
    working_dir = config.get("WorkingDir") or image.get("WorkingDir") or ""
    if working_dir and not working_dir.startswith("/"):
        raise errors.BadParameter(f"the working directory '{working_dir}' is invalid, it needs to be an "
                                  "absolute path")
    full_config = {
        # On the host's network a container is named as the host is, as in Docker.
        "Hostname": config.get("Hostname") or (socket.gethostname() if host.get("NetworkMode") == "host"
                                               else cid[:12]),
        "Domainname": config.get("Domainname") or "",
        "MacAddress": ipam.mac_address(config.get("MacAddress")),
        "User": config.get("User") or image.get("User") or "",
        **{key: bool(config.get(key)) for key in ("AttachStdin", "AttachStdout", "AttachStderr", "Tty",
                                                   "OpenStdin", "StdinOnce")},
        "Env": list(env.values()),
        "Cmd": cmd or None,
        "Image": config["Image"],
        "Volumes": config.get("Volumes") or None,
        "WorkingDir": working_dir,
        "Entrypoint": entrypoint or None,
        "OnBuild": None,
        "Labels": {**(image.get("Labels") or {}), **(config.get("Labels") or {})},
        "StopSignal": config.get("StopSignal") or image.get("StopSignal") or "SIGTERM",
        "PortSpecs": config.get("PortSpecs"),
        "Dns": config.get("Dns"),
        "Memory": memory,
        "MemorySwap": memory_swap,
        "CpuShares": cpu_shares,
        "VolumesFrom": config.get("VolumesFrom") or "",
        "Healthcheck": _healthcheck(config.get("Healthcheck"), image.get("Healthcheck")),
        "ExposedPorts": {**(image.get("ExposedPorts") or {}), **(config.get("ExposedPorts") or {})} or None,
    }
    signal_number(full_config["StopSignal"])
    runtime = host.get("Runtime") or made.default_runtime
    if runtime not in RUNTIMES:
        raise errors.BadParameter(f"unknown or invalid runtime name: {runtime}")
    host_config = {
        "Memory": memory, "MemorySwap": memory_swap, "CpuShares": cpu_shares,
        "Binds": host.get("Binds"), "VolumesFrom": host.get("VolumesFrom"),
        "Dns": str_list(host.get("Dns"), "Dns") or str_list(config.get("Dns"), "Dns") or [],
        "DnsSearch": str_list(host.get("DnsSearch"), "DnsSearch") or [],
        "DnsOptions": str_list(host.get("DnsOptions"), "DnsOptions") or [],
        "NetworkMode": host.get("NetworkMode") or "default",
        "PortBindings": host.get("PortBindings") or {},
        "PublishAllPorts": bool(host.get("PublishAllPorts")),
        "Links": legacy_links.normalized(str_list(host.get("Links"), "Links"), made.name),
        "AutoRemove": bool(host.get("AutoRemove")), "Privileged": bool(host.get("Privileged")),
        "CapAdd": str_list(host.get("CapAdd"), "CapAdd"), "CapDrop": str_list(host.get("CapDrop"), "CapDrop"),
        "ReadonlyRootfs": bool(host.get("ReadonlyRootfs")),
        "SecurityOpt": host.get("SecurityOpt") or None,
        "PidsLimit": host.get("PidsLimit") or None,
        "RestartPolicy": restart_policy(host.get("RestartPolicy"), bool(host.get("AutoRemove"))),
        "LogConfig": {"Type": "json-file", "Config": {}},
        "CgroupParent": host.get("CgroupParent") or "",
        "Devices": host.get("Devices") or [], "DeviceCgroupRules": host.get("DeviceCgroupRules") or [],
        "Runtime": runtime,
        "ExtraHosts": str_list(host.get("ExtraHosts"), "ExtraHosts") or None,
        "ShmSize": bundle.shm_size(host),
        "CpuPeriod": int(host.get("CpuPeriod") or 0), "CpuQuota": int(host.get("CpuQuota") or 0),
        "CpusetCpus": host.get("CpusetCpus") or "",
    }
    bundle.security(host_config["SecurityOpt"])  # refused now, not at start
    bundle.capabilities(host_config)
    bundle.devices(host_config)
    try:
        cgroup = cgroup_path(host_config["CgroupParent"] or made.cgroup_parent, cid)
    except ValueError as exc:
        raise errors.BadParameter(str(exc)) from None
    d = made.paths
    return {
        "Id": cid,
        "Created": timefmt.now(),
        "Path": argv[0],
        "Args": argv[1:],
        "State": states.initial(),
        "Image": made.image_id,
        "ResolvConfPath": d["resolv"],
        "HostnamePath": d["hostname"],
        "HostsPath": d["hosts"],
        "LogPath": d["log"],
        "Name": made.name,
        "RestartCount": 0,
        "Driver": "overlay2",
        "Platform": "linux",
        "Config": full_config,
        "HostConfig": host_config,
        "Mounts": made.mounts,
        "Dockyard": {"anonymous_volumes": made.anonymous_volumes, "cgroup": cgroup, "shim_pid": 0,
                     "shim_start": 0, "pid_start": 0},
    }
