"""Every setting of a create body and its JSON type, written out from the v1.45 spec
(definitions ContainerConfig, HostConfig with Resources, NetworkingConfig with
EndpointSettings) as Docker's Go types decode them, for the wrong-types test. Kept apart
from services.supervisor.spec on purpose: the test must not check the table against itself.

A path is dotted; `[]` stands for an item of a list, `{}` for a value of an object with
free keys. Types: string, boolean, integer, uint (a Go unsigned: no negative number),
string|[string] (Go's strslice.StrSlice), object, [T] (a list of T), {T} (an object of
T), [uint*2] (a Go [2]uint).
"""

from __future__ import annotations

import re

FIELDS = [
    # ContainerConfig
    ("Hostname", "string"), ("Domainname", "string"), ("User", "string"),
    ("AttachStdin", "boolean"), ("AttachStdout", "boolean"), ("AttachStderr", "boolean"),
    ("ExposedPorts", "{object}"), ("ExposedPorts{}", "object"),
    ("Tty", "boolean"), ("OpenStdin", "boolean"), ("StdinOnce", "boolean"),
    ("Env", "[string]"), ("Cmd", "string|[string]"),
    ("Healthcheck", "object"), ("Healthcheck.Test", "[string]"), ("Healthcheck.Interval", "integer"),
    ("Healthcheck.Timeout", "integer"), ("Healthcheck.Retries", "integer"),
    ("Healthcheck.StartPeriod", "integer"), ("Healthcheck.StartInterval", "integer"),
    ("ArgsEscaped", "boolean"), ("Image", "string"), ("Volumes", "{object}"), ("Volumes{}", "object"),
    ("WorkingDir", "string"),
    ("Entrypoint", "string|[string]"), ("NetworkDisabled", "boolean"), ("MacAddress", "string"),
    ("OnBuild", "[string]"), ("Labels", "{string}"), ("StopSignal", "string"), ("StopTimeout", "integer"),
    ("Shell", "string|[string]"),
    # v1.0's Config settings (docker_remote_api_v1.0.md), still read at the top level
    ("Memory", "integer"), ("MemorySwap", "integer"), ("CpuShares", "integer"),
    ("PortSpecs", "[string]"), ("Dns", "[string]"), ("VolumesFrom", "string"),
    # HostConfig: Resources
    ("HostConfig.CpuShares", "integer"), ("HostConfig.Memory", "integer"), ("HostConfig.CgroupParent", "string"),
    ("HostConfig.BlkioWeight", "uint"),
    ("HostConfig.BlkioWeightDevice", "[object]"), ("HostConfig.BlkioWeightDevice[]", "object"),
    ("HostConfig.BlkioWeightDevice[].Path", "string"), ("HostConfig.BlkioWeightDevice[].Weight", "uint"),
    ("HostConfig.BlkioDeviceReadBps", "[object]"), ("HostConfig.BlkioDeviceReadBps[]", "object"),
    ("HostConfig.BlkioDeviceReadBps[].Path", "string"), ("HostConfig.BlkioDeviceReadBps[].Rate", "uint"),
    ("HostConfig.BlkioDeviceWriteBps", "[object]"), ("HostConfig.BlkioDeviceWriteBps[]", "object"),
    ("HostConfig.BlkioDeviceWriteBps[].Path", "string"), ("HostConfig.BlkioDeviceWriteBps[].Rate", "uint"),
    ("HostConfig.BlkioDeviceReadIOps", "[object]"), ("HostConfig.BlkioDeviceReadIOps[]", "object"),
    ("HostConfig.BlkioDeviceReadIOps[].Path", "string"), ("HostConfig.BlkioDeviceReadIOps[].Rate", "uint"),
    ("HostConfig.BlkioDeviceWriteIOps", "[object]"), ("HostConfig.BlkioDeviceWriteIOps[]", "object"),
    ("HostConfig.BlkioDeviceWriteIOps[].Path", "string"), ("HostConfig.BlkioDeviceWriteIOps[].Rate", "uint"),
    ("HostConfig.CpuPeriod", "integer"), ("HostConfig.CpuQuota", "integer"),
    ("HostConfig.CpuRealtimePeriod", "integer"), ("HostConfig.CpuRealtimeRuntime", "integer"),
    ("HostConfig.CpusetCpus", "string"), ("HostConfig.CpusetMems", "string"),
    ("HostConfig.Devices", "[object]"), ("HostConfig.Devices[]", "object"),
    ("HostConfig.Devices[].PathOnHost", "string"), ("HostConfig.Devices[].PathInContainer", "string"),
    ("HostConfig.Devices[].CgroupPermissions", "string"),
    ("HostConfig.DeviceCgroupRules", "[string]"),
    ("HostConfig.DeviceRequests", "[object]"), ("HostConfig.DeviceRequests[]", "object"),
    ("HostConfig.DeviceRequests[].Driver", "string"), ("HostConfig.DeviceRequests[].Count", "integer"),
    ("HostConfig.DeviceRequests[].DeviceIDs", "[string]"),
    ("HostConfig.DeviceRequests[].Capabilities", "[[string]]"),
    ("HostConfig.DeviceRequests[].Capabilities[]", "[string]"),
    ("HostConfig.DeviceRequests[].Options", "{string}"),
    ("HostConfig.KernelMemory", "integer"),  # in moby's Go struct, no longer in the spec
    ("HostConfig.KernelMemoryTCP", "integer"), ("HostConfig.MemoryReservation", "integer"),
    ("HostConfig.MemorySwap", "integer"), ("HostConfig.MemorySwappiness", "integer"),
    ("HostConfig.NanoCpus", "integer"), ("HostConfig.OomKillDisable", "boolean"), ("HostConfig.Init", "boolean"),
    ("HostConfig.PidsLimit", "integer"),
    ("HostConfig.Ulimits", "[object]"), ("HostConfig.Ulimits[]", "object"), ("HostConfig.Ulimits[].Name", "string"),
    ("HostConfig.Ulimits[].Soft", "integer"), ("HostConfig.Ulimits[].Hard", "integer"),
    ("HostConfig.CpuCount", "integer"), ("HostConfig.CpuPercent", "integer"),
    ("HostConfig.IOMaximumIOps", "uint"), ("HostConfig.IOMaximumBandwidth", "uint"),
    # HostConfig: its own
    ("HostConfig.Binds", "[string]"), ("HostConfig.ContainerIDFile", "string"),
    ("HostConfig.LogConfig", "object"), ("HostConfig.LogConfig.Type", "string"),
    ("HostConfig.LogConfig.Config", "{string}"), ("HostConfig.NetworkMode", "string"),
    ("HostConfig.PortBindings", "{[object]}"), ("HostConfig.PortBindings{}", "[object]"),
    ("HostConfig.PortBindings{}[]", "object"), ("HostConfig.PortBindings{}[].HostIp", "string"),
    ("HostConfig.PortBindings{}[].HostPort", "string"),
    ("HostConfig.RestartPolicy", "object"), ("HostConfig.RestartPolicy.Name", "string"),
    ("HostConfig.RestartPolicy.MaximumRetryCount", "integer"),
    ("HostConfig.AutoRemove", "boolean"), ("HostConfig.VolumeDriver", "string"), ("HostConfig.VolumesFrom", "[string]"),
    ("HostConfig.Mounts", "[object]"), ("HostConfig.Mounts[]", "object"), ("HostConfig.Mounts[].Target", "string"),
    ("HostConfig.Mounts[].Source", "string"), ("HostConfig.Mounts[].Type", "string"),
    ("HostConfig.Mounts[].ReadOnly", "boolean"), ("HostConfig.Mounts[].Consistency", "string"),
    ("HostConfig.Mounts[].BindOptions", "object"), ("HostConfig.Mounts[].BindOptions.Propagation", "string"),
    ("HostConfig.Mounts[].BindOptions.NonRecursive", "boolean"),
    ("HostConfig.Mounts[].BindOptions.CreateMountpoint", "boolean"),
    ("HostConfig.Mounts[].BindOptions.ReadOnlyNonRecursive", "boolean"),
    ("HostConfig.Mounts[].BindOptions.ReadOnlyForceRecursive", "boolean"),
    ("HostConfig.Mounts[].VolumeOptions", "object"), ("HostConfig.Mounts[].VolumeOptions.NoCopy", "boolean"),
    ("HostConfig.Mounts[].VolumeOptions.Labels", "{string}"),
    ("HostConfig.Mounts[].VolumeOptions.DriverConfig", "object"),
    ("HostConfig.Mounts[].VolumeOptions.DriverConfig.Name", "string"),
    ("HostConfig.Mounts[].VolumeOptions.DriverConfig.Options", "{string}"),
    ("HostConfig.Mounts[].VolumeOptions.Subpath", "string"),
    ("HostConfig.Mounts[].TmpfsOptions", "object"), ("HostConfig.Mounts[].TmpfsOptions.SizeBytes", "integer"),
    ("HostConfig.Mounts[].TmpfsOptions.Mode", "uint"),
    ("HostConfig.ConsoleSize", "[uint*2]"), ("HostConfig.Annotations", "{string}"),
    ("HostConfig.CapAdd", "string|[string]"), ("HostConfig.CapDrop", "string|[string]"),
    ("HostConfig.CgroupnsMode", "string"), ("HostConfig.Dns", "[string]"), ("HostConfig.DnsOptions", "[string]"),
    ("HostConfig.DnsSearch", "[string]"), ("HostConfig.ExtraHosts", "[string]"), ("HostConfig.GroupAdd", "[string]"),
    ("HostConfig.IpcMode", "string"), ("HostConfig.Cgroup", "string"), ("HostConfig.Links", "[string]"),
    ("HostConfig.OomScoreAdj", "integer"), ("HostConfig.PidMode", "string"), ("HostConfig.Privileged", "boolean"),
    ("HostConfig.PublishAllPorts", "boolean"), ("HostConfig.ReadonlyRootfs", "boolean"),
    ("HostConfig.SecurityOpt", "[string]"), ("HostConfig.StorageOpt", "{string}"), ("HostConfig.Tmpfs", "{string}"),
    ("HostConfig.UTSMode", "string"), ("HostConfig.UsernsMode", "string"), ("HostConfig.ShmSize", "integer"),
    ("HostConfig.Sysctls", "{string}"), ("HostConfig.Runtime", "string"), ("HostConfig.Isolation", "string"),
    ("HostConfig.MaskedPaths", "[string]"), ("HostConfig.ReadonlyPaths", "[string]"),
    # NetworkingConfig
    ("NetworkingConfig", "object"),
    ("NetworkingConfig.EndpointsConfig", "{object}"), ("NetworkingConfig.EndpointsConfig{}", "object"),
    ("NetworkingConfig.EndpointsConfig{}.IPAMConfig", "object"),
    ("NetworkingConfig.EndpointsConfig{}.IPAMConfig.IPv4Address", "string"),
    ("NetworkingConfig.EndpointsConfig{}.IPAMConfig.IPv6Address", "string"),
    ("NetworkingConfig.EndpointsConfig{}.IPAMConfig.LinkLocalIPs", "[string]"),
    ("NetworkingConfig.EndpointsConfig{}.Links", "[string]"),
    ("NetworkingConfig.EndpointsConfig{}.MacAddress", "string"),
    ("NetworkingConfig.EndpointsConfig{}.Aliases", "[string]"),
    ("NetworkingConfig.EndpointsConfig{}.NetworkID", "string"),
    ("NetworkingConfig.EndpointsConfig{}.EndpointID", "string"),
    ("NetworkingConfig.EndpointsConfig{}.Gateway", "string"),
    ("NetworkingConfig.EndpointsConfig{}.IPAddress", "string"),
    ("NetworkingConfig.EndpointsConfig{}.IPPrefixLen", "integer"),
    ("NetworkingConfig.EndpointsConfig{}.IPv6Gateway", "string"),
    ("NetworkingConfig.EndpointsConfig{}.GlobalIPv6Address", "string"),
    ("NetworkingConfig.EndpointsConfig{}.GlobalIPv6PrefixLen", "integer"),
    ("NetworkingConfig.EndpointsConfig{}.DriverOpts", "{string}"),
    ("NetworkingConfig.EndpointsConfig{}.DNSNames", "[string]"),
]

# The values tried for each setting: those of them that are not of its type are sent.
CANDIDATES = ["str", 5, -1, 1.5, True, [], ["x"], [1, 2], [[1]], {}, {"a": 1}, {"a": "x"}, {"a": {}}, [{}]]


def conforms(value, kind: str) -> bool:
    """Whether Docker's Go decoding takes `value` for a setting of type `kind`."""
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind in ("integer", "uint"):
        return type(value) is int and (kind == "integer" or value >= 0)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "string|[string]":
        return isinstance(value, str) or conforms(value, "[string]")
    if kind == "[uint*2]":
        return conforms(value, "[uint]") and len(value) == 2
    if kind.startswith("["):
        return isinstance(value, list) and all(conforms(v, kind[1:-1]) for v in value)
    assert kind.startswith("{"), kind
    return isinstance(value, dict) and all(conforms(v, kind[1:-1]) for v in value.values())


def wrong_values(kind: str) -> list:
    return [v for v in CANDIDATES if not conforms(v, kind)]


def body_with(path: str, value) -> dict:
    """A create body (busybox, true) whose setting at `path` is `value`."""
    for part in reversed(path.split(".")):
        name, wrappers = re.fullmatch(r"(\w+)((?:\[\]|\{\})*)", part).groups()
        for wrapper in reversed(re.findall(r"\[\]|\{\}", wrappers)):
            value = [value] if wrapper == "[]" else {"k": value}
        value = {name: value}
    return {"Image": "busybox", "Cmd": ["true"], **value}


def names(path: str) -> list[str]:
    """The setting names a message about `path` must carry."""
    return re.findall(r"\w+", path)
