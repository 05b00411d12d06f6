"""After the suite (this file runs last): nothing is left behind for removed containers."""

from __future__ import annotations

import os
import time

from services.common.sockets import shim_name


def _ours(pid: int, root: str) -> bool:
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}").startswith(root)
                   for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def test_no_leaks_after_the_suite(daemon):
    time.sleep(3)  # shims linger a moment after their container exits
    containers = {c["Id"] for c in daemon.get("/v1.45/containers/json?all=1").json()}
    running = {c["Id"] for c in daemon.get("/v1.45/containers/json").json()}
    # No container directory without its container.
    assert set(os.listdir(os.path.join(daemon.data_root, "containers"))) == containers
    # No shim of this daemon but those of running containers.
    shims = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[0].decode()
        except OSError:
            continue
        if cmdline.startswith("dockyard-shim ") and _ours(int(pid), daemon.data_root):
            shims[cmdline.split()[1]] = int(pid)
    assert set(shims) <= running, shims
    # No overlay mount on the host: a container's rootfs is mounted in its own namespace only.
    with open("/proc/self/mountinfo") as fh:
        assert not [line for line in fh if daemon.data_root in line or daemon.exec_root + "/" in line]
    # No cgroup but those of its containers that run.
    for base in daemon.cgroup_dirs():
        left = {e.name for e in os.scandir(base) if e.is_dir()} - running
        assert not left, f"cgroups were left in {base}: {sorted(left)}"
    # No socket but the services', the zygote's and those of running containers' shims.
    sockets = set(os.listdir(os.path.join(daemon.exec_root, "sock")))
    wanted = {f"{s}.sock" for s in ("api", "supervisor", "builder", "registry", "zygote")}
    assert sockets - wanted <= {f"{shim_name(cid)}.sock" for cid in running}, sorted(sockets - wanted)
    # No staging leftovers.
    for service in os.listdir(os.path.join(daemon.data_root, "tmp")):
        assert os.listdir(os.path.join(daemon.data_root, "tmp", service)) == [], service
