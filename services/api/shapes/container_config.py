"""A container's Config and HostConfig as a modern inspect shows them: Docker's fields in
Docker's order (moby api/types/container Config, HostConfig with its Resources, v25-v26),
each as create completed it; the `omitempty` ones only when set."""

from __future__ import annotations

CONFIG_KEYS = ("Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr", "ExposedPorts",
               "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Healthcheck", "ArgsEscaped", "Image", "Volumes",
               "WorkingDir", "Entrypoint", "NetworkDisabled", "OnBuild", "Labels", "StopSignal", "StopTimeout",
               "Shell")
CONFIG_OMITTED_EMPTY = {"ExposedPorts", "Healthcheck", "ArgsEscaped", "NetworkDisabled", "StopSignal", "StopTimeout",
                        "Shell"}

HOST_CONFIG_KEYS = (
    "Binds", "ContainerIDFile", "LogConfig", "NetworkMode", "PortBindings", "RestartPolicy", "AutoRemove",
    "VolumeDriver", "VolumesFrom", "ConsoleSize", "Annotations", "CapAdd", "CapDrop", "CgroupnsMode", "Dns",
    "DnsOptions", "DnsSearch", "ExtraHosts", "GroupAdd", "IpcMode", "Cgroup", "Links", "OomScoreAdj", "PidMode",
    "Privileged", "PublishAllPorts", "ReadonlyRootfs", "SecurityOpt", "StorageOpt", "Tmpfs", "UTSMode",
    "UsernsMode", "ShmSize", "Sysctls", "Runtime", "Isolation",
    # Resources
    "CpuShares", "Memory", "NanoCpus", "CgroupParent", "BlkioWeight", "BlkioWeightDevice", "BlkioDeviceReadBps",
    "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps", "CpuPeriod", "CpuQuota",
    "CpuRealtimePeriod", "CpuRealtimeRuntime", "CpusetCpus", "CpusetMems", "Devices", "DeviceCgroupRules",
    "DeviceRequests", "KernelMemory", "KernelMemoryTCP", "MemoryReservation", "MemorySwap", "MemorySwappiness",
    "OomKillDisable", "PidsLimit", "Ulimits", "CpuCount", "CpuPercent", "IOMaximumIOps", "IOMaximumBandwidth",
    # HostConfig's own again
    "Mounts", "MaskedPaths", "ReadonlyPaths", "Init",
)
HOST_CONFIG_OMITTED_EMPTY = {"Annotations", "StorageOpt", "Tmpfs", "Sysctls", "Runtime", "KernelMemory",
                             "KernelMemoryTCP", "Mounts"}


def config(rec: dict) -> dict:
    c = rec["Config"]
    # StopTimeout is a *int in Docker's struct: 0 is shown, absent is not.
    return {k: c.get(k) for k in CONFIG_KEYS
            if k not in CONFIG_OMITTED_EMPTY or c.get(k) or (k == "StopTimeout" and c.get(k) is not None)}


def host_config(rec: dict) -> dict:
    """Docker's fields first, in its order (a record made before a field was kept shows it
    null); whatever else the record holds after them."""
    h = rec["HostConfig"]
    out = {k: h.get(k) for k in HOST_CONFIG_KEYS
           if (k not in HOST_CONFIG_OMITTED_EMPTY or h.get(k)) and (k != "Init" or h.get(k) is not None)}
    out.update({k: v for k, v in h.items() if k not in out and k not in HOST_CONFIG_KEYS})
    return out
