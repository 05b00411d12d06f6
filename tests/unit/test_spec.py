"""The JSON types of a create body (services.supervisor.spec), on hand-written samples: a
wrong type is a 400 naming the setting, a right one passes, null passes."""

from __future__ import annotations

import pytest

from services.common import errors
from services.supervisor import spec


def refused(config=None, host=None, networking=None) -> str:
    with pytest.raises(errors.BadParameter) as info:
        spec.check(config or {}, host, networking)
    assert errors.http_status(info.value.kind) == 400
    return info.value.message


# (where, body, the message's start) -- where: "config", "host" or "net".
WRONG = [
    # Config
    ("config", {"Hostname": 5}, "Hostname must be a string"),
    ("config", {"MacAddress": ["02:42:ac:11:00:02"]}, "MacAddress must be a string"),
    ("config", {"Tty": "true"}, "Tty must be true or false"),
    ("config", {"ArgsEscaped": 1}, "ArgsEscaped must be true or false"),
    ("config", {"NetworkDisabled": "yes"}, "NetworkDisabled must be true or false"),
    ("config", {"StopTimeout": 1.5}, "StopTimeout must be an integer"),
    ("config", {"StopTimeout": "10"}, "StopTimeout must be an integer"),
    ("config", {"StopTimeout": True}, "StopTimeout must be an integer"),
    ("config", {"Env": "A=1"}, "Env must be a list of strings"),
    ("config", {"Env": ["A=1", 2]}, "Env must be a list of strings"),
    ("config", {"Env": ["A=1", None]}, "Env must be a list of strings"),
    ("config", {"OnBuild": {"RUN": "x"}}, "OnBuild must be a list of strings"),
    ("config", {"Cmd": 5}, "Cmd must be a string or a list of strings"),
    ("config", {"Cmd": [["sh"]]}, "Cmd must be a string or a list of strings"),
    ("config", {"Entrypoint": {"sh": 1}}, "Entrypoint must be a string or a list of strings"),
    ("config", {"Shell": [1, 2]}, "Shell must be a string or a list of strings"),
    ("config", {"Labels": ["a=b"]}, "Labels must be an object of strings"),
    ("config", {"Labels": {"a": 1}}, "Labels must be an object of strings"),
    ("config", {"ExposedPorts": ["80/tcp"]}, "ExposedPorts must be an object of objects"),
    ("config", {"ExposedPorts": {"80/tcp": 1}}, "ExposedPorts.80/tcp must be an object"),
    ("config", {"Volumes": {"/data": "x"}}, "Volumes./data must be an object"),
    ("config", {"Healthcheck": "CMD true"}, "Healthcheck must be an object"),
    ("config", {"Healthcheck": {"Test": "true"}}, "Healthcheck.Test must be a list of strings"),
    ("config", {"Healthcheck": {"Interval": 1.5}}, "Healthcheck.Interval must be an integer"),
    ("config", {"Healthcheck": {"Timeout": "1s"}}, "Healthcheck.Timeout must be an integer"),
    ("config", {"Healthcheck": {"StartPeriod": []}}, "Healthcheck.StartPeriod must be an integer"),
    ("config", {"Healthcheck": {"StartInterval": {}}}, "Healthcheck.StartInterval must be an integer"),
    ("config", {"Healthcheck": {"Retries": False}}, "Healthcheck.Retries must be an integer"),
    # v1.0's settings at the top level
    ("config", {"PortSpecs": "80"}, "PortSpecs must be a list of strings"),
    ("config", {"VolumesFrom": ["x"]}, "VolumesFrom must be a string"),
    ("config", {"Memory": "1g"}, "Memory must be an integer"),
    # HostConfig: Resources
    ("host", {"CpuQuota": "50000"}, "HostConfig.CpuQuota must be an integer"),
    ("host", {"CpuPeriod": 1.5}, "HostConfig.CpuPeriod must be an integer"),
    ("host", {"CpuRealtimeRuntime": True}, "HostConfig.CpuRealtimeRuntime must be an integer"),
    ("host", {"NanoCpus": 0.5}, "HostConfig.NanoCpus must be an integer"),
    ("host", {"MemorySwappiness": "60"}, "HostConfig.MemorySwappiness must be an integer"),
    ("host", {"KernelMemoryTCP": [1]}, "HostConfig.KernelMemoryTCP must be an integer"),
    ("host", {"CpusetCpus": 0}, "HostConfig.CpusetCpus must be a string"),
    ("host", {"CpusetMems": ["0"]}, "HostConfig.CpusetMems must be a string"),
    ("host", {"CgroupParent": {}}, "HostConfig.CgroupParent must be a string"),
    ("host", {"OomKillDisable": 0}, "HostConfig.OomKillDisable must be true or false"),
    ("host", {"Init": "true"}, "HostConfig.Init must be true or false"),
    ("host", {"PidsLimit": 1.0}, "HostConfig.PidsLimit must be an integer"),
    ("host", {"BlkioWeight": -1}, "HostConfig.BlkioWeight must be an integer from 0 to 65535"),
    ("host", {"BlkioWeight": 70000}, "HostConfig.BlkioWeight must be an integer from 0 to 65535"),
    ("host", {"IOMaximumIOps": -5}, "HostConfig.IOMaximumIOps must be a non-negative integer"),
    ("host", {"BlkioWeightDevice": {"Path": "/dev/sda"}}, "HostConfig.BlkioWeightDevice must be a list of objects"),
    ("host", {"BlkioWeightDevice": [{"Path": "/dev/sda", "Weight": "10"}]},
     "HostConfig.BlkioWeightDevice[0].Weight must be an integer from 0 to 65535"),
    ("host", {"BlkioDeviceReadBps": [{"Path": 8}]}, "HostConfig.BlkioDeviceReadBps[0].Path must be a string"),
    ("host", {"BlkioDeviceWriteIOps": [{"Path": "/dev/sda", "Rate": -1}]},
     "HostConfig.BlkioDeviceWriteIOps[0].Rate must be a non-negative integer"),
    ("host", {"Devices": {}}, "HostConfig.Devices must be a list of objects"),
    ("host", {"Devices": ["/dev/fuse"]}, "HostConfig.Devices[0] must be an object"),
    ("host", {"Devices": [None]}, "HostConfig.Devices must be a list of objects"),
    ("host", {"Devices": [{"PathOnHost": "/dev/fuse", "CgroupPermissions": 7}]},
     "HostConfig.Devices[0].CgroupPermissions must be a string"),
    ("host", {"DeviceCgroupRules": "c 1:3 r"}, "HostConfig.DeviceCgroupRules must be a list of strings"),
    ("host", {"DeviceRequests": [{"Count": "all"}]}, "HostConfig.DeviceRequests[0].Count must be an integer"),
    ("host", {"DeviceRequests": [{"Capabilities": ["gpu"]}]},
     "HostConfig.DeviceRequests[0].Capabilities[0] must be a list of strings"),
    ("host", {"DeviceRequests": [{"Options": {"a": 1}}]},
     "HostConfig.DeviceRequests[0].Options must be an object of strings"),
    ("host", {"Ulimits": {"nofile": 1024}}, "HostConfig.Ulimits must be a list of objects"),
    ("host", {"Ulimits": [{"Name": "nofile", "Soft": "1024", "Hard": 2048}]},
     "HostConfig.Ulimits[0].Soft must be an integer"),
    ("host", {"Ulimits": [{"Name": 1}]}, "HostConfig.Ulimits[0].Name must be a string"),
    # HostConfig: its own
    ("host", {"Binds": "/a:/b"}, "HostConfig.Binds must be a list of strings"),
    ("host", {"ExtraHosts": "a:1.2.3.4"}, "HostConfig.ExtraHosts must be a list of strings"),
    ("host", {"Links": {"a": "b"}}, "HostConfig.Links must be a list of strings"),
    ("host", {"GroupAdd": [0]}, "HostConfig.GroupAdd must be a list of strings"),
    ("host", {"DnsSearch": "example.com"}, "HostConfig.DnsSearch must be a list of strings"),
    ("host", {"DnsOptions": [["ndots:1"]]}, "HostConfig.DnsOptions must be a list of strings"),
    ("host", {"MaskedPaths": "/proc/kcore"}, "HostConfig.MaskedPaths must be a list of strings"),
    ("host", {"ReadonlyPaths": [True]}, "HostConfig.ReadonlyPaths must be a list of strings"),
    ("host", {"CapAdd": 5}, "HostConfig.CapAdd must be a string or a list of strings"),
    ("host", {"CapDrop": [1]}, "HostConfig.CapDrop must be a string or a list of strings"),
    ("host", {"UsernsMode": True}, "HostConfig.UsernsMode must be a string"),
    ("host", {"IpcMode": 1}, "HostConfig.IpcMode must be a string"),
    ("host", {"PidMode": ["host"]}, "HostConfig.PidMode must be a string"),
    ("host", {"UTSMode": {}}, "HostConfig.UTSMode must be a string"),
    ("host", {"Runtime": 1.5}, "HostConfig.Runtime must be a string"),
    ("host", {"Isolation": False}, "HostConfig.Isolation must be a string"),
    ("host", {"VolumeDriver": 0}, "HostConfig.VolumeDriver must be a string"),
    ("host", {"CgroupnsMode": []}, "HostConfig.CgroupnsMode must be a string"),
    ("host", {"OomScoreAdj": "500"}, "HostConfig.OomScoreAdj must be an integer"),
    ("host", {"ShmSize": 1.5}, "HostConfig.ShmSize must be an integer"),
    ("host", {"Privileged": "false"}, "HostConfig.Privileged must be true or false"),
    ("host", {"PublishAllPorts": 1}, "HostConfig.PublishAllPorts must be true or false"),
    ("host", {"ReadonlyRootfs": []}, "HostConfig.ReadonlyRootfs must be true or false"),
    ("host", {"AutoRemove": "yes"}, "HostConfig.AutoRemove must be true or false"),
    ("host", {"Sysctls": {"net.ipv4.ip_forward": 1}}, "HostConfig.Sysctls must be an object of strings"),
    ("host", {"StorageOpt": ["size=1G"]}, "HostConfig.StorageOpt must be an object of strings"),
    ("host", {"Annotations": "a=b"}, "HostConfig.Annotations must be an object of strings"),
    ("host", {"Tmpfs": {"/run": None}}, "HostConfig.Tmpfs must be an object of strings"),
    ("host", {"ConsoleSize": [24]}, "HostConfig.ConsoleSize must be a list of two non-negative integers"),
    ("host", {"ConsoleSize": [24, 1.5]}, "HostConfig.ConsoleSize must be a list of two non-negative integers"),
    ("host", {"ConsoleSize": "24x80"}, "HostConfig.ConsoleSize must be a list of two non-negative integers"),
    ("host", {"RestartPolicy": "always"}, "HostConfig.RestartPolicy must be an object"),
    ("host", {"RestartPolicy": {"Name": ["always"]}}, "HostConfig.RestartPolicy.Name must be a string"),
    ("host", {"RestartPolicy": {"MaximumRetryCount": "3"}},
     "HostConfig.RestartPolicy.MaximumRetryCount must be an integer"),
    ("host", {"LogConfig": {"Type": 1}}, "HostConfig.LogConfig.Type must be a string"),
    ("host", {"LogConfig": {"Config": {"max-size": 10}}}, "HostConfig.LogConfig.Config must be an object of strings"),
    ("host", {"PortBindings": [["80"]]}, "HostConfig.PortBindings must be an object of lists of port bindings"),
    ("host", {"PortBindings": {"80/tcp": {"HostPort": "8080"}}},
     "HostConfig.PortBindings.80/tcp must be a list of objects"),
    ("host", {"PortBindings": {"80/tcp": [{"HostPort": 8080}]}},
     "HostConfig.PortBindings.80/tcp[0].HostPort must be a string"),
    ("host", {"PortBindings": {"80/tcp": [{"HostIp": True}]}},
     "HostConfig.PortBindings.80/tcp[0].HostIp must be a string"),
    ("host", {"Mounts": {"Target": "/x"}}, "HostConfig.Mounts must be a list of objects"),
    ("host", {"Mounts": [{"Target": 1}]}, "HostConfig.Mounts[0].Target must be a string"),
    ("host", {"Mounts": [{"Target": "/x", "ReadOnly": "yes"}]}, "HostConfig.Mounts[0].ReadOnly must be true or false"),
    ("host", {"Mounts": [{}, {"Type": ["bind"]}]}, "HostConfig.Mounts[1].Type must be a string"),
    ("host", {"Mounts": [{"BindOptions": {"Propagation": 1}}]},
     "HostConfig.Mounts[0].BindOptions.Propagation must be a string"),
    ("host", {"Mounts": [{"BindOptions": {"NonRecursive": "true"}}]},
     "HostConfig.Mounts[0].BindOptions.NonRecursive must be true or false"),
    ("host", {"Mounts": [{"VolumeOptions": {"Labels": {"a": 1}}}]},
     "HostConfig.Mounts[0].VolumeOptions.Labels must be an object of strings"),
    ("host", {"Mounts": [{"VolumeOptions": {"DriverConfig": {"Options": []}}}]},
     "HostConfig.Mounts[0].VolumeOptions.DriverConfig.Options must be an object of strings"),
    ("host", {"Mounts": [{"TmpfsOptions": {"SizeBytes": "64m"}}]},
     "HostConfig.Mounts[0].TmpfsOptions.SizeBytes must be an integer"),
    ("host", {"Mounts": [{"TmpfsOptions": {"Mode": -1}}]},
     "HostConfig.Mounts[0].TmpfsOptions.Mode must be an integer from 0 to 4294967295"),
    # NetworkingConfig
    ("net", "bridge", "NetworkingConfig must be an object"),
    ("net", {"EndpointsConfig": ["bridge"]}, "NetworkingConfig.EndpointsConfig must be an object of objects"),
    ("net", {"EndpointsConfig": {"bridge": "x"}}, "NetworkingConfig.EndpointsConfig.bridge must be an object"),
    ("net", {"EndpointsConfig": {"n": {"Aliases": "web"}}},
     "NetworkingConfig.EndpointsConfig.n.Aliases must be a list of strings"),
    ("net", {"EndpointsConfig": {"n": {"Links": [1]}}},
     "NetworkingConfig.EndpointsConfig.n.Links must be a list of strings"),
    ("net", {"EndpointsConfig": {"n": {"MacAddress": 2}}},
     "NetworkingConfig.EndpointsConfig.n.MacAddress must be a string"),
    ("net", {"EndpointsConfig": {"n": {"IPAMConfig": "10.0.0.2"}}},
     "NetworkingConfig.EndpointsConfig.n.IPAMConfig must be an object"),
    ("net", {"EndpointsConfig": {"n": {"IPAMConfig": {"IPv4Address": 10}}}},
     "NetworkingConfig.EndpointsConfig.n.IPAMConfig.IPv4Address must be a string"),
    ("net", {"EndpointsConfig": {"n": {"IPAMConfig": {"LinkLocalIPs": "fe80::1"}}}},
     "NetworkingConfig.EndpointsConfig.n.IPAMConfig.LinkLocalIPs must be a list of strings"),
    ("net", {"EndpointsConfig": {"n": {"DriverOpts": {"mtu": 1500}}}},
     "NetworkingConfig.EndpointsConfig.n.DriverOpts must be an object of strings"),
    ("net", {"EndpointsConfig": {"n": {"IPPrefixLen": "24"}}},
     "NetworkingConfig.EndpointsConfig.n.IPPrefixLen must be an integer"),
    ("net", {"EndpointsConfig": {"n": {"DNSNames": [None]}}},
     "NetworkingConfig.EndpointsConfig.n.DNSNames must be a list of strings"),
    # the host config itself
    ("host", 0, "HostConfig must be an object"),
    ("host", [], "HostConfig must be an object"),
]


@pytest.mark.parametrize("where, value, message", WRONG, ids=[m for _, _, m in WRONG])
def test_a_wrong_type_is_a_400_naming_the_setting(where, value, message):
    got = refused(**{{"config": "config", "host": "host", "net": "networking"}[where]: value})
    assert got == message


# Right types, as the docker CLI, docker-py and compose send them.
RIGHT_CONFIG = {
    "Hostname": "h", "Domainname": "", "User": "1000:1000", "AttachStdin": False, "AttachStdout": True,
    "AttachStderr": True, "ExposedPorts": {"80/tcp": {}, "53/udp": None}, "Tty": False, "OpenStdin": False,
    "StdinOnce": False, "Env": ["A=1"], "Cmd": ["sh", "-c", "true"], "Image": "busybox",
    "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 1_000_000_000, "Timeout": 0, "Retries": 3,
                    "StartPeriod": 0, "StartInterval": 0},
    "ArgsEscaped": False, "Volumes": {"/data": {}}, "WorkingDir": "/", "Entrypoint": "sh",
    "NetworkDisabled": False, "MacAddress": "02:42:ac:11:00:02", "OnBuild": [], "Labels": {"a": "b"},
    "StopSignal": "SIGTERM", "StopTimeout": 10, "Shell": "/bin/sh",
    "PortSpecs": ["80"], "Dns": ["8.8.8.8"], "VolumesFrom": "other", "Memory": 0, "MemorySwap": -1, "CpuShares": 512,
}
RIGHT_HOST = {
    "CpuShares": 0, "Memory": 7 << 20, "CgroupParent": "", "BlkioWeight": 500,
    "BlkioWeightDevice": [{"Path": "/dev/sda", "Weight": 10}], "BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": 1}],
    "BlkioDeviceWriteBps": [], "BlkioDeviceReadIOps": None, "BlkioDeviceWriteIOps": [],
    "CpuPeriod": 100000, "CpuQuota": -1, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "0-1",
    "CpusetMems": "0", "Devices": [{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse",
                                   "CgroupPermissions": "rwm"}],
    "DeviceCgroupRules": ["c 1:3 r"], "DeviceRequests": [{"Driver": "", "Count": -1, "DeviceIDs": ["0"],
                                                         "Capabilities": [["gpu"]], "Options": {}}],
    "KernelMemory": 0, "KernelMemoryTCP": 0, "MemoryReservation": 0, "MemorySwap": -1, "MemorySwappiness": None,
    "NanoCpus": 500000000, "OomKillDisable": False, "Init": None, "PidsLimit": -1,
    "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}], "CpuCount": 0, "CpuPercent": 0,
    "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
    "Binds": ["/a:/b:ro"], "ContainerIDFile": "", "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m"}},
    "NetworkMode": "default", "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}], "81/tcp": None},
    "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "AutoRemove": False, "VolumeDriver": "",
    "VolumesFrom": None, "Mounts": [{"Target": "/x", "Source": "v", "Type": "volume", "ReadOnly": True,
                                     "Consistency": "default", "BindOptions": None,
                                     "VolumeOptions": {"NoCopy": True, "Labels": {"a": "b"},
                                                       "DriverConfig": {"Name": "local", "Options": {}}},
                                     "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o1777}}],
    "ConsoleSize": [24, 80], "Annotations": {"a": "b"}, "CapAdd": "NET_ADMIN", "CapDrop": ["MKNOD"],
    "CgroupnsMode": "private", "Dns": [], "DnsOptions": [], "DnsSearch": [], "ExtraHosts": ["a:1.2.3.4"],
    "GroupAdd": ["audio"], "IpcMode": "private", "Cgroup": "", "Links": ["other:alias"], "OomScoreAdj": -500,
    "PidMode": "", "Privileged": False, "PublishAllPorts": False, "ReadonlyRootfs": True, "SecurityOpt": [],
    "StorageOpt": {}, "Tmpfs": {"/run": "rw,size=64m"}, "UTSMode": "", "UsernsMode": "", "ShmSize": 64 << 20,
    "Sysctls": {"net.ipv4.ip_forward": "1"}, "Runtime": "runc", "Isolation": "", "MaskedPaths": [],
    "ReadonlyPaths": ["/proc/sys"],
}
RIGHT_NET = {"EndpointsConfig": {"bridge": {
    "IPAMConfig": {"IPv4Address": "10.0.0.2", "IPv6Address": "", "LinkLocalIPs": []}, "Links": ["a:b"],
    "Aliases": ["web"], "MacAddress": "", "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "",
    "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
    "DriverOpts": {"a": "b"}, "DNSNames": []}, "other": None}}


def test_right_types_pass():
    spec.check(RIGHT_CONFIG, RIGHT_HOST, RIGHT_NET)
    spec.check({"Cmd": "true", "Entrypoint": ["sh", "-c"], "Shell": ["/bin/sh", "-c"]},
               {"CapAdd": ["SYS_ADMIN"], "CapDrop": "ALL"}, {})


def test_null_passes_for_every_setting():
    spec.check(dict.fromkeys(RIGHT_CONFIG), dict.fromkeys(RIGHT_HOST), dict.fromkeys(RIGHT_NET))
    spec.check({"Healthcheck": dict.fromkeys(("Test", "Interval", "Retries"))},
               {"RestartPolicy": {"Name": None}, "LogConfig": {"Type": None, "Config": None},
                "Mounts": [{"Target": None, "BindOptions": None, "TmpfsOptions": {"Mode": None}}],
                "Ulimits": [{"Name": "nofile", "Soft": None}]},
               {"EndpointsConfig": {"n": {"IPAMConfig": None, "Aliases": None}}})
    spec.check({}, None, None)


def test_unknown_keys_are_ignored_everywhere():
    spec.check({"NoSuchSetting": [1, {"x": 1.5}]},
               {"NoSuchSetting": "x", "RestartPolicy": {"Other": 1}, "Mounts": [{"ClusterOptions": 5}]},
               {"Other": 1, "EndpointsConfig": {"n": {"Other": [1]}}})


def test_strslice_settings_are_read_as_lists():
    assert spec.str_list("true", "Cmd") == ["true"]
    assert spec.str_list(["a", "b"], "Cmd") == ["a", "b"]
    assert spec.str_list(None, "Cmd") is None
    with pytest.raises(errors.BadParameter):
        spec.str_list(["a", 1], "Cmd")
    assert spec.integer(None, "Memory") == 0 and spec.integer(7, "Memory") == 7
    for wrong in (True, 1.5, "7"):
        with pytest.raises(errors.BadParameter):
            spec.integer(wrong, "Memory")
