"""HostConfig's settings other than resources, checked and completed as Docker completes them at
create (moby daemon_unix.go adaptContainerSettings, verifyPlatformContainerSettings,
runconfig), and the resources' defaults, so that inspect shows every field Docker shows.

A setting the host cannot honour is refused here (a BadParameter, or NotFound for a volume
driver that is not there), or taken with a warning where Docker warns.
"""

from __future__ import annotations

import json
import os
import shutil

from services.common import errors
from services.common.wire import schema
from services.kernel import cgroups

from . import mount_specs
from .types import str_list

# Docker's default masked and read-only paths (moby daemon/pkg/oci/defaults.go; /proc/interrupts
# since Docker 27), in its order.
MASKED_PATHS = ["/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                "/sys/firmware", "/sys/devices/virtual/powercap"]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

# The init Docker runs with Init (docker-init is tini; Debian's static tini is the same program).
INIT_BINARIES = ("docker-init", "tini-static")
INIT_IN_CONTAINER = "/sbin/docker-init"

# The resources Docker returns whatever was asked (Resources of the v1.45 spec), at their
# defaults; a value given is kept as given. (KernelMemory* are omitempty in Docker's struct.)
RESOURCE_DEFAULTS = {
    "CpuShares": 0, "Memory": 0, "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0,
    "BlkioWeightDevice": [], "BlkioDeviceReadBps": None, "BlkioDeviceWriteBps": None,
    "BlkioDeviceReadIOps": None, "BlkioDeviceWriteIOps": None, "CpuPeriod": 0, "CpuQuota": 0,
    "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "", "Devices": [],
    "DeviceCgroupRules": None, "DeviceRequests": None, "MemoryReservation": 0, "MemorySwap": 0,
    "MemorySwappiness": None, "OomKillDisable": False, "PidsLimit": None, "Ulimits": None, "CpuCount": 0,
    "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
}
# KernelMemory and KernelMemoryTCP (omitempty) are spec.resources': kept there when set, and
# not when the host's kernel discards them.
OMITTED_WHEN_EMPTY: tuple[str, ...] = ()

# Sysctls a container may set (runc's validator, moby opts.ValidateSysctl): those of its IPC
# namespace, its network namespace's net.*, and kernel.domainname with a UTS namespace.
IPC_SYSCTLS = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
               "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}

# The limits setrlimit knows (go-units' ulimitNameMapping).
ULIMITS = ("as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile",
           "nproc", "rss", "rtprio", "rttime", "sigpending", "stack")
UNLIMITED = -1


def _container_ref(mode: str) -> str | None:
    """The container `container:<ref>` names; None if `mode` is not of that form."""
    kind, sep, ref = mode.partition(":")
    return ref if kind == "container" and sep else None


def namespace_modes(host: dict, config: dict) -> dict:
    """IpcMode, PidMode, UTSMode, CgroupnsMode, UsernsMode and Cgroup, checked, with Docker's
    defaults (IPC private; a cgroup namespace of its own on cgroup v2, the host's on v1)."""
    ipc = host.get("IpcMode") or "private"
    if ipc not in ("none", "private", "shareable", "host") and not _container_ref(ipc):
        raise errors.BadParameter(f"invalid IPC mode: {ipc}")
    pid = host.get("PidMode") or ""
    if pid not in ("", "host") and not _container_ref(pid):
        raise errors.BadParameter(f"invalid PID mode: {pid}")
    uts = host.get("UTSMode") or ""
    if uts not in ("", "host"):
        raise errors.BadParameter(f"invalid UTS mode: {uts}")
    if uts == "host" and config.get("Hostname"):
        raise errors.BadParameter("conflicting options: hostname and the UTS mode")
    cgroupns = host.get("CgroupnsMode") or ""
    if cgroupns not in ("", "private", "host"):
        raise errors.BadParameter(f"invalid cgroup namespace mode: {cgroupns}")
    if not cgroupns:
        cgroupns = "private" if cgroups.is_v2() else "host"
    userns = host.get("UsernsMode") or ""
    if userns not in ("", "host"):
        raise errors.BadParameter(f"invalid USER mode: {userns}")
    cgroup = host.get("Cgroup") or ""
    if cgroup and not _container_ref(cgroup):
        raise errors.BadParameter(f"invalid cgroup spec: {cgroup}")
    return {"IpcMode": ipc, "PidMode": pid, "UTSMode": uts, "CgroupnsMode": cgroupns,
            "UsernsMode": userns, "Cgroup": cgroup}


def sysctls(given: dict | None, host: dict, modes: dict) -> dict | None:
    """HostConfig.Sysctls: only those of a namespace the container has of its own."""
    if not given:
        return None
    network = host.get("NetworkMode") or "default"
    for name in given:
        if name in IPC_SYSCTLS or name.startswith("fs.mqueue."):
            if modes["IpcMode"] == "host":
                raise errors.BadParameter(f"sysctl {name!r} is not allowed in the hosts ipc namespace")
        elif name.startswith("net."):
            if network == "host":
                raise errors.BadParameter(f"sysctl {name!r} not allowed in host network namespace")
        elif name == "kernel.domainname" and modes["UTSMode"] != "host":
            pass
        elif name == "kernel.hostname" and modes["UTSMode"] != "host":
            raise errors.BadParameter(f"sysctl {name!r} is not allowed as it conflicts with the OCI \"hostname\" field")
        else:
            raise errors.BadParameter(f"sysctl {name!r} is not in a separate kernel namespace")
    return dict(given)


def ulimits(given: list | None) -> list | None:
    """HostConfig.Ulimits, checked as go-units reads them (-1 is unlimited)."""
    if not given:
        return None
    seen = set()
    for limit in given:
        name = limit.get("Name") or ""
        if name not in ULIMITS:
            raise errors.BadParameter(f"invalid ulimit type: {name}")
        if name in seen:
            raise errors.BadParameter(f"ulimit {name} is given more than once")
        seen.add(name)
        soft, hard = limit.get("Soft"), limit.get("Hard")
        for value in (soft, hard):
            if value is None or (value < 0 and value != UNLIMITED):
                raise errors.BadParameter(f"invalid ulimit {name}: soft and hard must be non-negative "
                                          "integers, or -1 for unlimited")
        if hard != UNLIMITED and (soft == UNLIMITED or soft > hard):
            raise errors.BadParameter(f"ulimit soft limit must be less than or equal to hard limit: "
                                      f"{soft} > {hard}")
    return [{"Name": u["Name"], "Hard": u["Hard"], "Soft": u["Soft"]} for u in given]


def group_add(given: list | None) -> list | None:
    """HostConfig.GroupAdd: group names (looked up in the container's /etc/group at its start)
    or numbers."""
    if not given:
        return None
    for group in given:
        if not group or ":" in group or "\n" in group:
            raise errors.BadParameter(f"invalid group {group!r} in GroupAdd")
        if group.isdigit() and int(group) > 0x7FFFFFFF:
            raise errors.BadParameter(f"invalid group {group!r} in GroupAdd: out of range")
    return list(given)


def init_binary() -> str | None:
    """Where the host's docker-init is (Debian's tini-static serves as one); None if nowhere."""
    for name in INIT_BINARIES:
        path = shutil.which(name)
        if path:
            return os.path.realpath(path)
    return None


def annotations(given: dict | None) -> dict | None:
    """HostConfig.Annotations, passed to the runtime; Dockyard's own keys are not the client's."""
    if not given:
        return None
    for key in given:
        if key.startswith(schema.ANNOTATION_PREFIX):
            raise errors.BadParameter(f"annotation {key!r}: the {schema.ANNOTATION_PREFIX} prefix is reserved")
    return dict(given)


def complete(config: dict, host: dict, warnings: list[str]) -> dict:
    """Every HostConfig field Docker has that is not otherwise made at create: as given,
    checked, or at Docker's default. Warnings Docker gives are added to `warnings`."""
    modes = namespace_modes(host, config)
    isolation = host.get("Isolation") or ""
    if isolation.lower() not in ("", "default"):
        raise errors.BadParameter(f"Invalid isolation: {isolation!r} - linux only supports 'default'")
    if host.get("StorageOpt"):
        raise errors.BadParameter("--storage-opt is supported only for overlay over xfs with 'pquota' mount option")
    for request in host.get("DeviceRequests") or []:
        raise errors.BadParameter(f"could not select device driver {json.dumps(request.get('Driver') or '')} "
                                  f"with capabilities: {request.get('Capabilities') or []}")
    for key in ("IOMaximumBandwidth", "IOMaximumIOps"):
        if host.get(key):
            raise errors.BadParameter(f"Invalid QoS settings: linux does not support configuration of "
                                      f"maximum {'bandwidth' if key == 'IOMaximumBandwidth' else 'IOPs'}")
    if host.get("Init") and modes["PidMode"] == "" and init_binary() is None:
        raise errors.BadParameter('exec: "docker-init": executable file not found in $PATH')
    if modes["Cgroup"]:
        warnings.append(f"Cgroup {modes['Cgroup']} is not supported: the container gets a cgroup of its own")
    console = host.get("ConsoleSize") or [0, 0]
    privileged = bool(host.get("Privileged"))
    masked, readonly = host.get("MaskedPaths"), host.get("ReadonlyPaths")
    out = {
        **modes,
        "ContainerIDFile": host.get("ContainerIDFile") or "",
        "VolumeDriver": host.get("VolumeDriver") or "",
        "ConsoleSize": list(console),
        "GroupAdd": group_add(str_list(host.get("GroupAdd"), "GroupAdd")),
        "OomScoreAdj": host.get("OomScoreAdj") or 0,
        "Isolation": isolation,
        "MaskedPaths": list(masked) if masked is not None else None if privileged else list(MASKED_PATHS),
        "ReadonlyPaths": list(readonly) if readonly is not None else None if privileged else list(READONLY_PATHS),
    }
    omitted = {
        "Annotations": annotations(host.get("Annotations")),
        "Tmpfs": mount_specs.tmpfs_table(host.get("Tmpfs")),
        "Sysctls": sysctls(host.get("Sysctls"), host, modes),
        "Mounts": host.get("Mounts") or None,
        **{key: host.get(key) for key in OMITTED_WHEN_EMPTY},
    }
    out.update({key: value for key, value in omitted.items() if value not in (None, {}, [], 0)})
    if host.get("Init") is not None:   # a *bool in Docker's struct: false is shown, absent is not
        out["Init"] = host["Init"]
    for key, default in RESOURCE_DEFAULTS.items():
        value = host.get(key)
        out[key] = default if value is None else value
    out["Ulimits"] = ulimits(host.get("Ulimits"))
    return out
