"""What a container's namespace, process and kernel settings make of its bundle, as moby's
oci_linux.go makes them: its namespaces (PidMode, IpcMode, UTSMode, CgroupnsMode and the
network's), docker-init before its command (Init), its rlimits (Ulimits), its sysctls
(Docker's defaults for a network namespace of its own, then Sysctls), its terminal's size
(ConsoleSize), its masked and read-only paths, and the annotations the runtimes read
(GroupAdd, the volumes to fill, the /dev/shm it shares; HostConfig.Annotations first).
"""

from __future__ import annotations

import json
import os

from services.common.wire import schema

from .namespaces import Shared
from .spec import host as host_settings

RLIM_INFINITY = (1 << 64) - 1   # as OCI's uint64 rlimits write it
# Set in a network namespace of the container's own (moby withCommonOptions): ping without
# CAP_NET_RAW, and any port without CAP_NET_BIND_SERVICE.
DEFAULT_SYSCTLS = {"net.ipv4.ping_group_range": "0 2147483647", "net.ipv4.ip_unprivileged_port_start": "0"}


def _own_network(host: dict) -> bool:
    mode = host.get("NetworkMode") or "default"
    return mode != "host" and not mode.startswith("container:")


def namespaces(host: dict, network: dict | None, shared: Shared) -> list[dict]:
    """linux.namespaces: a kind left out is the host's; one with a path is joined."""
    out = [ns for ns in (shared.pid, {"type": "mount"}, shared.ipc) if ns is not None]
    if (host.get("UTSMode") or "") != "host":
        out.append({"type": "uts"})
    if network is not None:
        out.append(network)
    if host.get("CgroupnsMode") == "private":
        out.append({"type": "cgroup"})
    return out


def args(rec: dict) -> list[str]:
    """The process's argv: docker-init's first where the container runs it (bundle_mounts
    binds it in)."""
    argv = [rec["Path"], *rec["Args"]]
    host = rec["HostConfig"]
    if host.get("Init") and not host.get("PidMode"):
        return [host_settings.INIT_IN_CONTAINER, "--", *argv]
    return argv


def rlimits(host: dict) -> list[dict]:
    return [{"type": "RLIMIT_" + u["Name"].upper(),
             "soft": RLIM_INFINITY if u["Soft"] == host_settings.UNLIMITED else u["Soft"],
             "hard": RLIM_INFINITY if u["Hard"] == host_settings.UNLIMITED else u["Hard"]}
            for u in host.get("Ulimits") or []]


def sysctls(host: dict) -> dict:
    out = {}
    if _own_network(host):
        out = {k: v for k, v in DEFAULT_SYSCTLS.items() if os.path.exists("/proc/sys/" + k.replace(".", "/"))}
    return {**out, **(host.get("Sysctls") or {})}


def console_size(config: dict, host: dict) -> dict | None:
    height, width = (host.get("ConsoleSize") or [0, 0])[:2]
    if config.get("Tty") and height and width:
        return {"height": height, "width": width}
    return None


def protected_paths(host: dict, unmasked: bool) -> tuple[list[str], list[str]]:
    """linux.maskedPaths and readonlyPaths: HostConfig's (Docker's defaults, filled at create;
    a record made before them gets the defaults); none privileged or systempaths=unconfined."""
    if unmasked or host.get("Privileged"):
        return [], []
    masked, readonly = host.get("MaskedPaths"), host.get("ReadonlyPaths")
    return (list(host_settings.MASKED_PATHS) if masked is None else list(masked),
            list(host_settings.READONLY_PATHS) if readonly is None else list(readonly))


def annotations(host: dict, shared: Shared, copy_up: list[str]) -> dict:
    """HostConfig.Annotations, and what the runtimes read beyond the OCI spec."""
    out = dict(host.get("Annotations") or {})
    if host.get("GroupAdd"):
        out[schema.ANNOTATION_GROUP_ADD] = json.dumps(host["GroupAdd"])
    if copy_up:
        out[schema.ANNOTATION_COPY_UP] = json.dumps(copy_up)
    if shared.shm_of:
        out[schema.ANNOTATION_SHM_OF] = str(shared.shm_of)
    return out
