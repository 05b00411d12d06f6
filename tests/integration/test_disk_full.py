"""A data root that fills up: clear errors, nothing half-written, a container that is never
blocked by its log, and everything working again once space is freed."""

from __future__ import annotations

import glob
import io
import os
import subprocess
import tarfile

import pytest

from ..polling import until
from .containers import create, ensure_busybox, inspect, start, wait
from .daemon import Daemon, discard, free_port, new_root


@pytest.fixture
def small_daemon():
    d = Daemon(new_root(), free_port())
    os.makedirs(d.data_root)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", d.data_root], check=True)
    try:
        d.start()
        yield d
    finally:
        try:
            discard(d)
        finally:
            subprocess.run(["umount", "-l", d.data_root], check=False)
            subprocess.run(["rm", "-rf", d.root], check=False)


def _free(daemon) -> int:
    st = os.statvfs(daemon.data_root)
    return st.f_bavail * st.f_frsize


def test_full_disk_errors_clearly_and_recovers(small_daemon):
    d = small_daemon
    ensure_busybox(d)
    # An import larger than the space left: a clear error, and nothing of it stays.
    big = os.urandom(30 << 20)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("big.bin")
        info.size = len(big)
        tf.addfile(info, io.BytesIO(big))
    r = d.request("POST", "/v1.45/images/create?fromSrc=-&repo=big&tag=1", body=buf.getvalue(),
                  headers={"Content-Type": "application/x-tar"}, timeout=120)
    assert b"no space left on device" in r.body, r.body
    assert d.get("/v1.45/images/big:1/json").status == 404
    for service in os.listdir(os.path.join(d.data_root, "tmp")):
        assert os.listdir(os.path.join(d.data_root, "tmp", service)) == [], service

    # A container whose output fills the disk is not blocked by its log: it runs to its end.
    cid = create(d, "/v1.45", Image="busybox", Cmd=["sh", "-c", "head -c 40000000 /dev/zero; echo done >&2"])
    start(d, cid, "/v1.45")
    pid = inspect(d, cid)["State"]["Pid"]
    until(lambda: not os.path.exists(f"/proc/{pid}"), 60, "the container's end (was it blocked by its full log?)",
          interval=0.1)
    assert _free(d) < 1 << 20
    assert d.get("/_ping").status == 200  # the daemon is up

    # Space is freed (its log truncated, as an operator would): its exit is recorded at last.
    for path in glob.glob(os.path.join(d.data_root, "containers", cid, "*-json.log")):
        os.truncate(path, 0)
    assert wait(d, cid, "/v1.45", timeout=30) == 0
    assert inspect(d, cid)["State"]["Status"] == "exited"
    assert d.request("DELETE", f"/v1.45/containers/{cid}").status == 204
    # And all works again.
    other = create(d, "/v1.45", Image="busybox", Cmd=["echo", "again"])
    start(d, other, "/v1.45")
    assert wait(d, other, "/v1.45") == 0
    assert d.request("DELETE", f"/v1.45/containers/{other}").status == 204
