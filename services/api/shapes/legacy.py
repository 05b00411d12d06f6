"""Remote API v1.0 shapes, exactly the keys the spec shows (extra keys allowed, none dropped)."""

from __future__ import annotations

from services.common.timefmt import unix as unix_time

from . import networks
from .common import container_command, human_duration, image_created, image_field, since


def version(rec: dict) -> dict:
    return {
        "Version": rec["version"],
        "GitCommit": rec["git_commit"],
        "GoVersion": rec["go_version"],
        # Not in v1.0, but clients negotiate with these on the unprefixed path.
        "ApiVersion": rec["api_version"],
        "MinAPIVersion": rec["min_api_version"],
        "Os": rec["os"],
        "Arch": rec["arch"],
        "KernelVersion": rec["kernel_version"],
    }


def info(rec: dict) -> dict:
    return {
        "Containers": rec["containers"],
        "Images": rec["images"],
        "Debug": rec["debug"],
        "NFd": rec["nfd"],
        "NGoroutines": rec["ngoroutines"],
        "MemoryLimit": rec["memory_limit"],
        "SwapLimit": rec["swap_limit"],
    }


# ---------------------------------------------------------------- images

def image_id(image_id: str) -> str:
    """v1.0 ids are bare hex."""
    return image_id.removeprefix("sha256:")


def short_id(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _split_ref(ref: str) -> tuple[str, str]:
    repo, _, tag = ref.rpartition(":")
    if "/" in tag or not repo:
        return ref, ""
    return repo, tag


def image_list(images: list[dict], all_images: bool, api) -> list[dict]:
    rows = []
    for image in images:
        created = image_created(image)
        if image["refs"]:
            for ref in image["refs"]:
                repo, tag = _split_ref(ref)
                rows.append({"Repository": repo, "Tag": tag, "Id": short_id(image["id"]),
                             "Created": created})
        elif all_images:
            rows.append({"Repository": "<none>", "Tag": "<none>", "Id": short_id(image["id"]),
                         "Created": created})
    return rows


def image_viz(images: list[dict]) -> str:
    lines = ["digraph docker {"]
    for image in images:
        me = short_id(image["id"])
        if image["parent"]:
            lines.append(f'"{short_id(image["parent"])}" -> "{me}"')
        else:
            lines.append(f'base -> "{me}" [style=invis]')
    for image in images:
        if image["refs"]:
            me = short_id(image["id"])
            label = "\\n".join([me, *image["refs"]])
            lines.append(f'"{me}" [label="{label}",shape=box,fillcolor="paleturquoise",'
                         'style="filled,rounded"];')
    lines.append("base [style=invisible]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def container_config(c: dict | None) -> dict:
    """A container config in v1.0's keys."""
    c = c if isinstance(c, dict) else {}
    return {
        "Hostname": c.get("Hostname", ""),
        "User": c.get("User", ""),
        "Memory": c.get("Memory", 0),
        "MemorySwap": c.get("MemorySwap", 0),
        "AttachStdin": c.get("AttachStdin", False),
        "AttachStdout": c.get("AttachStdout", False),
        "AttachStderr": c.get("AttachStderr", False),
        "PortSpecs": c.get("PortSpecs"),
        "Tty": c.get("Tty", False),
        "OpenStdin": c.get("OpenStdin", False),
        "StdinOnce": c.get("StdinOnce", False),
        "Env": c.get("Env"),
        "Cmd": c.get("Cmd"),
        "Dns": c.get("Dns"),
        "Image": c.get("Image", ""),
        "Volumes": c.get("Volumes"),
        "VolumesFrom": c.get("VolumesFrom", ""),
    }


def image_inspect(image: dict, api) -> dict:
    config = image["config"]
    return {
        "id": image_id(image["id"]),
        "parent": image_id(image["parent"]),
        # A commit's message and author, under the v1.0 daemon's own keys for them.
        "comment": image_field(config, "comment", str, ""),
        "author": image_field(config, "author", str, ""),
        "created": image["created"],
        "container": image_field(config, "container", str, ""),
        "container_config": container_config(image_field(config, "container_config", dict)),
        "config": container_config(image_field(config, "config", dict)),
        "architecture": image_field(config, "architecture", str, ""),
        "docker_version": image_field(config, "docker_version", str, ""),
        "Size": image["size"],
    }


def image_history(entries: list[dict]) -> list[dict]:
    return [{"Id": e["id"] if e["id"] == "<missing>" else short_id(e["id"]),
             "Created": image_created(e), "CreatedBy": e["created_by"]} for e in entries]


# ------------------------------------------------------------ containers

def container_list(records: list[dict], api) -> list[dict]:
    rows = []
    for rec in records:
        state = rec["State"]
        status = f"Up {human_duration(since(state['StartedAt']))}" if state["Running"] else (
            f"Exit {state['ExitCode']}" if state["Status"] == "exited" else "")
        rows.append({"Id": rec["Id"][:12], "Image": rec["Config"]["Image"], "Command": container_command(rec),
                     "Created": unix_time(rec["Created"]), "Status": status})
    return rows


def container_created(result: dict) -> dict:
    return {"Id": result["id"][:12], "Warnings": result["warnings"]}


def container_inspect(rec: dict, api) -> dict:
    state = rec["State"]
    return {
        "Id": rec["Id"],
        "Created": rec["Created"],
        "Path": rec["Path"],
        "Args": rec["Args"],
        "Config": container_config(rec["Config"]),
        "State": {"Running": state["Running"], "Pid": state["Pid"], "ExitCode": state["ExitCode"],
                  "StartedAt": state["StartedAt"], "Ghost": False, "FinishedAt": state["FinishedAt"],
                  "Error": state["Error"]},
        "Image": image_id(rec["Image"]),
        "NetworkSettings": networks.legacy_settings(rec),
        "SysInitPath": "",
        "ResolvConfPath": rec["ResolvConfPath"],
        "Volumes": {m["Destination"]: m["Source"] for m in rec.get("Mounts") or []},
        "VolumesRW": {m["Destination"]: m.get("RW", True) for m in rec.get("Mounts") or []},
        "Name": rec["Name"],
    }


def container_changes(changes: list[dict]) -> list[dict]:
    return [{"Path": c["path"], "Kind": c["kind"]} for c in changes]


def wait_result(result: dict) -> dict:
    return {"StatusCode": result["exit_code"]}


def committed(image: str) -> dict:
    return {"Id": short_id(image)}


def search_results(results: list[dict]) -> list[dict]:
    return [{"Name": r["name"], "Description": r["description"]} for r in results]
