"""The JSON types of Docker's create body, checked: Config, HostConfig and NetworkingConfig.

Docker decodes the body into Go structs (moby's container.Config, HostConfig with its
Resources, network.NetworkingConfig), so a value of the wrong JSON type is a 400 there,
never dropped; here too, naming the setting (`HostConfig.CpuQuota must be an integer`).
The tables below hold every field of the v1.45 spec's ContainerConfig, HostConfig (with
Resources) and NetworkingConfig, and the v1.0 fields Dockyard still reads. As Go does:

- null is taken for any field (Go reads it as the zero value), and for a value in an
  object whose values are objects or lists (ExposedPorts, PortBindings, EndpointsConfig);
  an item of a list, or a value in an object of strings, must be of its type.
- keys nobody knows are ignored, at the top and inside every object.
- numbers are read strictly: 1.5 or "1" for an integer is refused, and so is a negative
  number for an unsigned one.
- Cmd, Entrypoint, Shell, CapAdd and CapDrop are strslice.StrSlice: a string or a list.
"""

from __future__ import annotations

from services.common import errors

# ----------------------------------------------------------------------- kinds

STR, BOOL, INT = "a string", "true or false", "an integer"
UINT, UINT16, UINT32 = "a non-negative integer", "an integer from 0 to 65535", "an integer from 0 to 4294967295"
STRS, STR_OR_STRS = "a list of strings", "a string or a list of strings"
STR_MAP, OBJ = "an object of strings", "an object"
PAIR = "a list of two non-negative integers"


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _strs(v) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


_KINDS = {
    STR: lambda v: isinstance(v, str),
    BOOL: lambda v: isinstance(v, bool),
    INT: _int,
    UINT: lambda v: _int(v) and v >= 0,
    UINT16: lambda v: _int(v) and 0 <= v <= 0xFFFF,
    UINT32: lambda v: _int(v) and 0 <= v <= 0xFFFFFFFF,
    STRS: _strs,
    STR_OR_STRS: lambda v: isinstance(v, str) or _strs(v),
    STR_MAP: lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
    OBJ: lambda v: isinstance(v, dict),
    PAIR: lambda v: isinstance(v, list) and len(v) == 2 and all(_int(x) and x >= 0 for x in v),
}


class List:
    """A JSON list whose items are each of `item` (a kind, a table of fields, or a List)."""

    def __init__(self, item, named: str = "a list of objects"):
        self.item, self.named = item, named


class Map:
    """A JSON object whose keys are free and whose values are each of `value` or null."""

    def __init__(self, value, named: str = "an object of objects"):
        self.value, self.named = value, named


# A table of fields (a dict) is an object: each field of its kind, others ignored.

# ---------------------------------------------------------------------- tables

HEALTHCHECK = {"Test": STRS, "Interval": INT, "Timeout": INT, "Retries": INT,
               "StartPeriod": INT, "StartInterval": INT}

CONFIG_TYPES = {
    **dict.fromkeys(("Hostname", "Domainname", "User", "Image", "WorkingDir", "MacAddress", "StopSignal"),
                    STR),
    **dict.fromkeys(("AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce",
                     "ArgsEscaped", "NetworkDisabled"), BOOL),
    **dict.fromkeys(("Cmd", "Entrypoint", "Shell"), STR_OR_STRS),
    **dict.fromkeys(("Env", "OnBuild"), STRS),
    **dict.fromkeys(("ExposedPorts", "Volumes"), Map(OBJ)),  # Go's map[string]struct{}
    "Labels": STR_MAP,
    "StopTimeout": INT,
    "Healthcheck": HEALTHCHECK,
    # v1.0's, still read by Dockyard (moby has since moved them to HostConfig).
    **dict.fromkeys(("Memory", "MemorySwap", "CpuShares"), INT),
    **dict.fromkeys(("PortSpecs", "Dns"), STRS),
    "VolumesFrom": STR,
}

THROTTLE_DEVICE = {"Path": STR, "Rate": UINT}
RESOURCES_TYPES = {
    **dict.fromkeys(("CgroupParent", "CpusetCpus", "CpusetMems"), STR),
    **dict.fromkeys(("CpuShares", "Memory", "CpuPeriod", "CpuQuota", "CpuRealtimePeriod", "CpuRealtimeRuntime",
                     "KernelMemory", "KernelMemoryTCP", "MemoryReservation", "MemorySwap", "MemorySwappiness",
                     "NanoCpus", "PidsLimit", "CpuCount", "CpuPercent"), INT),
    **dict.fromkeys(("IOMaximumIOps", "IOMaximumBandwidth"), UINT),
    **dict.fromkeys(("OomKillDisable", "Init"), BOOL),
    "BlkioWeight": UINT16,
    "BlkioWeightDevice": List({"Path": STR, "Weight": UINT16}),
    **dict.fromkeys(("BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps"),
                    List(THROTTLE_DEVICE)),
    "Devices": List({"PathOnHost": STR, "PathInContainer": STR, "CgroupPermissions": STR}),
    "DeviceCgroupRules": STRS,
    "DeviceRequests": List({"Driver": STR, "Count": INT, "DeviceIDs": STRS,
                            "Capabilities": List(STRS, "a list of lists of strings"), "Options": STR_MAP}),
    "Ulimits": List({"Name": STR, "Soft": INT, "Hard": INT}),
}

MOUNT = {
    **dict.fromkeys(("Target", "Source", "Type", "Consistency"), STR),
    "ReadOnly": BOOL,
    "BindOptions": {"Propagation": STR, **dict.fromkeys(
        ("NonRecursive", "CreateMountpoint", "ReadOnlyNonRecursive", "ReadOnlyForceRecursive"), BOOL)},
    "VolumeOptions": {"NoCopy": BOOL, "Labels": STR_MAP, "Subpath": STR,
                      "DriverConfig": {"Name": STR, "Options": STR_MAP}},
    "TmpfsOptions": {"SizeBytes": INT, "Mode": UINT32},  # Mode is Go's os.FileMode
}

HOST_CONFIG_TYPES = {
    **RESOURCES_TYPES,
    **dict.fromkeys(("ContainerIDFile", "NetworkMode", "VolumeDriver", "CgroupnsMode", "IpcMode", "Cgroup",
                     "PidMode", "UTSMode", "UsernsMode", "Runtime", "Isolation"), STR),
    **dict.fromkeys(("AutoRemove", "Privileged", "PublishAllPorts", "ReadonlyRootfs"), BOOL),
    **dict.fromkeys(("OomScoreAdj", "ShmSize"), INT),
    **dict.fromkeys(("Binds", "VolumesFrom", "Dns", "DnsOptions", "DnsSearch", "ExtraHosts", "GroupAdd", "Links",
                     "SecurityOpt", "MaskedPaths", "ReadonlyPaths"), STRS),
    **dict.fromkeys(("CapAdd", "CapDrop"), STR_OR_STRS),
    **dict.fromkeys(("Annotations", "StorageOpt", "Tmpfs", "Sysctls"), STR_MAP),
    "LogConfig": {"Type": STR, "Config": STR_MAP},
    "RestartPolicy": {"Name": STR, "MaximumRetryCount": INT},
    "PortBindings": Map(List({"HostIp": STR, "HostPort": STR}), "an object of lists of port bindings"),
    "Mounts": List(MOUNT),
    "ConsoleSize": PAIR,
}

ENDPOINT = {
    **dict.fromkeys(("MacAddress", "NetworkID", "EndpointID", "Gateway", "IPAddress", "IPv6Gateway",
                     "GlobalIPv6Address"), STR),
    **dict.fromkeys(("IPPrefixLen", "GlobalIPv6PrefixLen"), INT),
    **dict.fromkeys(("Links", "Aliases", "DNSNames"), STRS),
    "IPAMConfig": {"IPv4Address": STR, "IPv6Address": STR, "LinkLocalIPs": STRS},
    "DriverOpts": STR_MAP,
}
NETWORKING_CONFIG_TYPES = {"EndpointsConfig": Map(ENDPOINT)}

# --------------------------------------------------------------------- checker


def check(config: dict, host_config=None, networking_config=None) -> None:
    """A create body's Config (the top level), HostConfig and NetworkingConfig: a
    BadParameter naming the first setting whose JSON type is not Docker's."""
    _check(config, CONFIG_TYPES, "")
    if host_config is not None:
        _check(host_config, HOST_CONFIG_TYPES, "HostConfig")
    if networking_config is not None:
        _check(networking_config, NETWORKING_CONFIG_TYPES, "NetworkingConfig")


def check_endpoint(config) -> None:
    """A connect's EndpointConfig (Docker's EndpointSettings): BadParameter as for create."""
    _check(config, ENDPOINT, "EndpointConfig")


def _describe(kind) -> str:
    return kind if isinstance(kind, str) else "an object" if isinstance(kind, dict) else kind.named


def _check(value, kind, name: str) -> None:
    """`value` (not null) as `kind`; the table describes its depth, the value never drives it."""
    if isinstance(kind, str):
        ok = _KINDS[kind](value)
    elif isinstance(kind, dict):
        ok = isinstance(value, dict)
    elif isinstance(kind, List):
        ok = isinstance(value, list) and all(item is not None for item in value)
    else:
        ok = isinstance(value, dict)
    if not ok:
        raise errors.BadParameter(f"{name or 'the container config'} must be {_describe(kind)}")
    if isinstance(kind, dict):
        prefix = name + "." if name else ""
        for key, sub in kind.items():
            if value.get(key) is not None:
                _check(value[key], sub, prefix + key)
    elif isinstance(kind, List):
        for number, item in enumerate(value):
            _check(item, kind.item, f"{name}[{number}]")
    elif isinstance(kind, Map):
        for key, item in value.items():
            if item is not None:
                _check(item, kind.value, f"{name}.{key}")


# ------------------------------------------------------- reading checked values


def str_list(value, key: str) -> list[str] | None:
    """A strslice.StrSlice setting (a string or a list of strings) as a list; None if absent."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if not _strs(value):
        raise errors.BadParameter(f"{key} must be a string or a list of strings")
    return value


def integer(value, key: str) -> int:
    """A JSON integer setting (absent: 0); anything else is the client's mistake."""
    if value is None:
        return 0
    if not _int(value):
        raise errors.BadParameter(f"{key} must be an integer")
    return value
