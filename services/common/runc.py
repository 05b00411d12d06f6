"""Debian's runc, as the shim runs containers with it and the supervisor cleans up after it:
where it is, where it keeps its state (`runc --root`), and forgetting a container."""

from __future__ import annotations

import os
import shutil
import subprocess

BINARY = shutil.which("runc") or "/usr/sbin/runc"
TIMEOUT = 60


def state_root(exec_root: str) -> str:
    return os.path.join(exec_root, "runc")


def command(exec_root: str, *args: str) -> list[str]:
    return [BINARY, "--root", state_root(exec_root), *args]


def delete(exec_root: str, container_id: str) -> None:
    """Forget a container whose process is gone, or kill it: runc's state of it and its
    cgroups (runc makes one in every hierarchy, the named and unified ones included)."""
    if os.path.isdir(os.path.join(state_root(exec_root), container_id)):
        subprocess.run(command(exec_root, "delete", "--force", container_id), stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=TIMEOUT)
