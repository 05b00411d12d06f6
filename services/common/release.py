"""What this build of Dockyard is: its version, the commit it was built from, when."""

from __future__ import annotations

import functools
import os
import platform
import subprocess

VERSION = "0.1.0"


@functools.lru_cache(maxsize=None)
def _build_info() -> tuple[str, str]:
    # deploy/install.sh writes _build_info.py into the package it installs; a checkout
    # run in place asks git instead.
    try:
        from services import _build_info  # type: ignore[attr-defined]
        return _build_info.GIT_COMMIT, _build_info.BUILD_TIME
    except ImportError:
        pass
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        out = subprocess.run(["git", "-C", top, "log", "-1", "--format=%h %cI"],
                             capture_output=True, text=True, timeout=5)
        commit, _, when = out.stdout.strip().partition(" ")
        if out.returncode == 0 and commit:
            return commit, when
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown", ""


def git_commit() -> str:
    return _build_info()[0]


def build_time() -> str:
    return _build_info()[1]


def python_version() -> str:
    return f"python{platform.python_version()}"


def go_arch() -> str:
    """The host's architecture in Docker's (Go's) spelling."""
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386",
            "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}.get(machine, machine)
