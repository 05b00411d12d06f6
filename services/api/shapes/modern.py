"""Engine API 1.24 to 1.45 shapes (spec/engine-api-v1.45.yaml)."""

from __future__ import annotations

import time

from services.common import container_summary
from services.common.config import RUNTIMES, runtime_path

from . import container_config, networks
from .common import image_created, image_field


def version(rec: dict) -> dict:
    details = {
        "ApiVersion": rec["api_version"],
        "Arch": rec["arch"],
        "BuildTime": rec["build_time"],
        "Experimental": "false",
        "GitCommit": rec["git_commit"],
        "GoVersion": rec["go_version"],
        "KernelVersion": rec["kernel_version"],
        "MinAPIVersion": rec["min_api_version"],
        "Os": rec["os"],
    }
    return {
        "Platform": {"Name": "Dockyard Engine"},
        "Components": [{"Name": "Engine", "Version": rec["version"], "Details": details}],
        "Version": rec["version"],
        "ApiVersion": rec["api_version"],
        "MinAPIVersion": rec["min_api_version"],
        "GitCommit": rec["git_commit"],
        "GoVersion": rec["go_version"],
        "Os": rec["os"],
        "Arch": rec["arch"],
        "KernelVersion": rec["kernel_version"],
        "BuildTime": rec["build_time"],
    }


def info(rec: dict) -> dict:
    return {
        "ID": rec["id"],
        "Containers": rec["containers"],
        "ContainersRunning": rec["containers_running"],
        "ContainersPaused": rec["containers_paused"],
        "ContainersStopped": rec["containers_stopped"],
        "Images": rec["images"],
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", rec.get("backing_filesystem", "extfs")], ["Supports d_type", "true"],
                         ["Using metacopy", "false"], ["Native Overlay Diff", "true"], ["userxattr", "false"]],
        "DockerRootDir": rec["data_root"],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"],
                    "Authorization": None, "Log": ["json-file", "local"]},
        "MemoryLimit": rec["memory_limit"],
        "SwapLimit": rec["swap_limit"],
        "KernelMemoryTCP": False,
        "CpuCfsPeriod": rec["cpu_shares"],
        "CpuCfsQuota": rec["cpu_shares"],
        "CPUShares": rec["cpu_shares"],
        "CPUSet": False,
        "PidsLimit": rec["pids_limit"],
        "OomKillDisable": rec["oom_kill_disable"],
        "IPv4Forwarding": True,
        "BridgeNfIptables": False,
        "BridgeNfIp6tables": False,
        "Debug": rec["debug"],
        "NFd": rec["nfd"],
        "NGoroutines": rec["ngoroutines"],
        "SystemTime": rec["system_time"],
        "LoggingDriver": rec.get("log_driver", "json-file"),
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": rec["cgroup_version"],
        "NEventsListener": 0,
        "KernelVersion": rec["kernel_version"],
        "OperatingSystem": rec["operating_system"],
        "OSVersion": rec["os_version"],
        "OSType": "linux",
        "Architecture": rec["architecture"],
        "NCPU": rec["ncpu"],
        "MemTotal": rec["mem_total"],
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "AllowNondistributableArtifactsCIDRs": [],
            "AllowNondistributableArtifactsHostnames": [],
            "InsecureRegistryCIDRs": ["127.0.0.0/8", "::1/128"],
            "IndexConfigs": {},
            "Mirrors": [],
        },
        "GenericResources": None,
        "HttpProxy": "",
        "HttpsProxy": "",
        "NoProxy": "",
        "Name": rec["name"],
        "Labels": [],
        "ExperimentalBuild": False,
        "ServerVersion": rec["version"],
        "Runtimes": {name: {"path": runtime_path(name)} for name in RUNTIMES},
        "DefaultRuntime": rec["default_runtime"],
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                  "ControlAvailable": False, "Error": "", "RemoteManagers": None},
        "LiveRestoreEnabled": True,
        "Isolation": "",
        "InitBinary": "docker-init",
        "ContainerdCommit": {"ID": ""},
        "RuncCommit": {"ID": ""},
        "InitCommit": {"ID": ""},
        "SecurityOptions": rec["security_options"],
        "ProductLicense": "",
        "DefaultAddressPools": [],
        "Warnings": rec["warnings"],
        "CDISpecDirs": [],
    }


# ---------------------------------------------------------------- images

def image_id(image_id: str) -> str:
    return image_id


def image_list(images: list[dict], all_images: bool, api) -> list[dict]:
    rows = []
    for image in images:
        row = {
            "Id": image["id"],
            "ParentId": image["parent"],
            "RepoTags": image["refs"],
            "RepoDigests": image["digests"],
            "Created": image_created(image),
            "Size": image["size"],
            "SharedSize": -1,
            "Labels": image_field(image, "labels", dict, {}),
            "Containers": -1,
        }
        if not api.at_least("1.44"):
            row["VirtualSize"] = image["size"]
        rows.append(row)
    return rows


def image_inspect(image: dict, api) -> dict:
    config = image["config"]
    out = {
        "Id": image["id"],
        "RepoTags": image["refs"],
        "RepoDigests": image["digests"],
        "Parent": image["parent"],
        "Comment": image_field(config, "comment", str, ""),
        "Created": image_field(config, "created", str, image["created"]),
        "DockerVersion": image_field(config, "docker_version", str, ""),
        "Author": image_field(config, "author", str, ""),
        "Config": image_field(config, "config", dict),
        "Architecture": image_field(config, "architecture", str, ""),
        "Os": image_field(config, "os", str, "linux"),
        "Size": image["size"],
        "GraphDriver": {"Name": "overlay2", "Data": None},
        "RootFS": {"Type": "layers",
                   "Layers": image_field(image_field(config, "rootfs", dict), "diff_ids", list, [])},
        "Metadata": {"LastTagTime": image.get("last_tag_time") or "0001-01-01T00:00:00Z"},
    }
    if image_field(config, "variant", str):
        out["Variant"] = config["variant"]
    if not api.at_least("1.45"):
        out["Container"] = image_field(config, "container", str, "")
        out["ContainerConfig"] = image_field(config, "container_config", dict)
    if not api.at_least("1.44"):
        out["VirtualSize"] = image["size"]
    return out


def image_history(entries: list[dict]) -> list[dict]:
    return [{"Id": e["id"], "Created": image_created(e), "CreatedBy": e["created_by"],
             "Tags": e["tags"] or None, "Size": e["size"], "Comment": e["comment"]} for e in entries]


def image_removed(result: dict) -> list[dict]:
    return [{"Untagged": r} for r in result["untagged"]] + [{"Deleted": d} for d in result["deleted"]]


# ------------------------------------------------------------ containers

def _mounts(rec: dict) -> list[dict]:
    return container_summary.mounts(rec)


def container_list(records: list[dict], api) -> list[dict]:
    now = time.time()
    return [container_summary.summary(rec, now) for rec in records]


def container_created(result: dict) -> dict:
    return {"Id": result["id"], "Warnings": result["warnings"]}


def container_inspect(rec: dict, api) -> dict:
    state = rec["State"]
    return {
        "Id": rec["Id"],
        "Created": rec["Created"],
        "Path": rec["Path"],
        "Args": rec["Args"],
        "State": {**{k: state[k] for k in ("Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead",
                                           "Pid", "ExitCode", "Error", "StartedAt", "FinishedAt")},
                  **({"Health": state["Health"]} if state.get("Health") else {})},
        "Image": rec["Image"],
        "ResolvConfPath": rec["ResolvConfPath"],
        "HostnamePath": rec["HostnamePath"],
        "HostsPath": rec["HostsPath"],
        "LogPath": rec["LogPath"],
        "Name": rec["Name"],
        "RestartCount": rec["RestartCount"],
        "Driver": rec["Driver"],
        "Platform": rec["Platform"],
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": container_config.host_config(rec),
        "GraphDriver": {"Name": "overlay2", "Data": None},
        "Mounts": _mounts(rec),
        "Config": container_config.config(rec),
        "NetworkSettings": networks.inspect_settings(rec, api),
    }


def container_changes(changes: list[dict]) -> list[dict]:
    return [{"Path": c["path"], "Kind": c["kind"]} for c in changes]


def wait_result(result: dict) -> dict:
    return {"StatusCode": result["exit_code"],
            "Error": {"Message": result["error"]} if result["error"] else None}


def committed(image: str) -> dict:
    return {"Id": image}


def search_results(results: list[dict]) -> list[dict]:
    return [{k: r[k] for k in ("name", "description", "star_count", "is_official", "is_automated")}
            for r in results]
