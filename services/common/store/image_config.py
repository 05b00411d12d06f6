"""Image configs in the Docker/OCI image format, as Dockyard makes them (import, insert, commit)."""

from __future__ import annotations

import copy
import json

from services.common import release, timefmt


def empty_container_config() -> dict:
    """The container config of an image nothing has configured."""
    return {
        "Hostname": "", "Domainname": "", "User": "",
        "AttachStdin": False, "AttachStdout": False, "AttachStderr": False,
        "Tty": False, "OpenStdin": False, "StdinOnce": False,
        "Env": None, "Cmd": None, "Image": "", "Volumes": None, "WorkingDir": "",
        "Entrypoint": None, "OnBuild": None, "Labels": None,
    }


def encode(config: dict) -> bytes:
    """The bytes whose sha256 is the image id (compact, as Docker writes them)."""
    return json.dumps(config, separators=(",", ":"), sort_keys=False).encode()


def imported(diff_id: str, source: str, message: str | None, arch: str) -> dict:
    now = timefmt.now()
    history = {"created": now, "comment": message or f"Imported from {source}"}
    return {
        "architecture": arch,
        "os": "linux",
        "created": now,
        "comment": message or "",
        "docker_version": f"dockyard-{release.VERSION}",
        "config": empty_container_config(),
        "container_config": empty_container_config(),
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [history],
    }


def child(parent_id: str, parent: dict, diff_id: str | None, created_by: str,
          comment: str = "", author: str = "", container: str = "",
          config: dict | None = None, container_config: dict | None = None) -> dict:
    """The config of an image made on top of `parent` (insert, commit), with one more step.

    `created_by` is the history's text for the step, as Docker writes it
    ("/bin/sh -c #(nop) ..." for a step that ran nothing, the command for a commit).
    """
    now = timefmt.now()
    out = copy.deepcopy(parent)
    out["created"] = now
    out["parent"] = parent_id
    out["docker_version"] = f"dockyard-{release.VERSION}"
    out["author"] = author
    out["comment"] = comment
    out["container"] = container
    run_config = copy.deepcopy(config if config is not None else parent.get("config") or empty_container_config())
    out["config"] = run_config
    if container_config is None:
        container_config = copy.deepcopy(run_config)
        container_config["Cmd"] = ["/bin/sh", "-c", created_by.removeprefix("/bin/sh -c ")]
    out["container_config"] = container_config
    rootfs = out.setdefault("rootfs", {"type": "layers", "diff_ids": []})
    entry = {"created": now, "created_by": created_by}
    if author:
        entry["author"] = author
    if comment:
        entry["comment"] = comment
    if diff_id is None:
        entry["empty_layer"] = True
    else:
        rootfs["diff_ids"] = list(rootfs.get("diff_ids") or []) + [diff_id]
    out["history"] = list(parent.get("history") or []) + [entry]
    return out
