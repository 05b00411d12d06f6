"""Docker's create body to the container record: its JSON types checked (spec.types), then
each setting read as Docker reads it, the image's defaults filled in.

Everything a create refuses is refused here, at create, not at the container's first start.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from services.common import errors, timefmt
from services.common.config import RUNTIMES, cgroup_path

from .. import bundle, health, states
from ..networks import ipam, legacy_links
from . import host as host_settings
from . import mount_specs
from .logconfig import DEFAULT as DEFAULT_LOG_CONFIG, log_config, log_path
from . import resources
from .signals import signal_number  # noqa: F401 (for the rooms that signal)
from .types import check, integer, str_list  # noqa: F401 (check: for the room's users)

RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")


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
    default_log: dict = field(default_factory=lambda: dict(DEFAULT_LOG_CONFIG))   # the daemon's LogConfig
    warnings: list[str] = field(default_factory=list)   # record() adds those Docker gives


def record(made: Made, config: dict, host: dict) -> dict:
    """The container record of a create body (already type-checked by `check`)."""
    image, cid = made.image, made.id
    entrypoint, cmd = _command(config, image)
    argv = entrypoint + cmd
    limits, limit_warnings = resources.read(host, config)
    made.warnings.extend(limit_warnings)
    if int(host.get("ShmSize") or 0) < 0:
        raise errors.BadParameter("SHM size can not be less than 0")
    env = {e.split("=", 1)[0]: e for e in (image.get("Env") or [])}
    env.update({e.split("=", 1)[0]: e for e in str_list(config.get("Env"), "Env") or []})
    working_dir = config.get("WorkingDir") or image.get("WorkingDir") or ""
    if working_dir and not working_dir.startswith("/"):
        raise errors.BadParameter(f"the working directory '{working_dir}' is invalid, it needs to be an "
                                  "absolute path")
    full_config = {
        # On the host's network a container is named as the host is, as in Docker.
        "Hostname": config.get("Hostname") or (socket.gethostname() if "host" in (host.get("NetworkMode"),
                                                                                 host.get("UTSMode")) else cid[:12]),
        "Domainname": config.get("Domainname") or "",
        "MacAddress": ipam.mac_address(config.get("MacAddress")),
        "User": config.get("User") or image.get("User") or "",
        **{key: bool(config.get(key)) for key in ("AttachStdin", "AttachStdout", "AttachStderr", "Tty",
                                                   "OpenStdin", "StdinOnce")},
        "Env": list(env.values()),
        "Cmd": cmd or None,
        "Image": config["Image"],
        "Volumes": {**(image.get("Volumes") or {}), **(config.get("Volumes") or {})} or None,   # as Docker merges
        "WorkingDir": working_dir,
        "Entrypoint": entrypoint or None,
        "OnBuild": None,
        "Labels": {**(image.get("Labels") or {}), **(config.get("Labels") or {})},
        "StopSignal": config.get("StopSignal") or image.get("StopSignal") or "SIGTERM",
        "PortSpecs": config.get("PortSpecs"),
        "Dns": config.get("Dns"),
        "Memory": limits["Memory"],
        "MemorySwap": limits["MemorySwap"],
        "CpuShares": limits["CpuShares"],
        "VolumesFrom": config.get("VolumesFrom") or "",
        "Healthcheck": _healthcheck(config.get("Healthcheck"), image.get("Healthcheck")),
        "ExposedPorts": {**(image.get("ExposedPorts") or {}), **(config.get("ExposedPorts") or {})} or None,
    }
    # Kept only when set (omitempty in Docker's Config, and so in an image committed from it).
    full_config.update({key: value for key, value in (
        ("StopTimeout", config.get("StopTimeout")), ("Shell", str_list(config.get("Shell"), "Shell") or None),
        ("ArgsEscaped", config.get("ArgsEscaped") or None), ("NetworkDisabled", config.get("NetworkDisabled") or None),
    ) if value is not None})
    signal_number(full_config["StopSignal"])
    # docker-py's create_container(runtime=...) puts it beside Config's fields, where dockerd
    # ignores it (its default runtime is runc anyway): taken as HostConfig's when that has none.
    top_runtime = config.get("Runtime") if isinstance(config.get("Runtime"), str) else None
    runtime = host.get("Runtime") or top_runtime or made.default_runtime
    if runtime not in RUNTIMES:
        raise errors.BadParameter(f"unknown or invalid runtime name: {runtime}")
    host_config = {
        **limits,   # Resources' cgroup limits and OomScoreAdj (spec.resources)
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
        "RestartPolicy": restart_policy(host.get("RestartPolicy"), bool(host.get("AutoRemove"))),
        "LogConfig": log_config(host.get("LogConfig"), made.default_log),
        "CgroupParent": host.get("CgroupParent") or "",
        "Devices": host.get("Devices") or [], "DeviceCgroupRules": host.get("DeviceCgroupRules") or [],
        "Runtime": runtime,
        "ExtraHosts": str_list(host.get("ExtraHosts"), "ExtraHosts") or None,
        "ShmSize": bundle.shm_size(host),
    }
    for key, value in host_settings.complete(config, host, made.warnings).items():
        host_config.setdefault(key, value)   # what is not made above: as given, or Docker's default
    made.warnings += mount_specs.warnings(made.mounts)
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
        "LogPath": log_path(d, host_config["LogConfig"]),
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
