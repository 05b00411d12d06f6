"""docker cp of a running container that is restarted (or stopped, then copied from) during
the copy: the copy's helper holds a copy of the container's mount namespace, overlay
included, so the start (or the next copy) ends it first (the copy fails, cleanly) and never
mounts a second overlay on the same upper and work directories while the first one lives."""

from __future__ import annotations

import http.client
import io
import os
import tarfile

import pytest

from services.common import container_files

from ..polling import until
from .containers import ensure_busybox
from .daemon import UnixHTTPConnection

BUSYBOX = "busybox:latest"
BIG_MB = 64   # far more than the pipes and buffers between the helper and the client hold


@pytest.fixture(scope="module", autouse=True)
def busybox(daemon):
    ensure_busybox(daemon)


@pytest.fixture
def running(client):
    ctr = client.containers.run(BUSYBOX, ["tail", "-f", "/dev/null"], detach=True)
    yield ctr
    ctr.remove(force=True)


def _cmdline(pid: str) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().decode(errors="replace").split("\0")
    except OSError:
        return []


def copy_helpers(cid: str) -> list[int]:
    """The live processes of copies of container `cid` (a zombie has no command line)."""
    return [int(pid) for pid in os.listdir("/proc") if pid.isdigit()
            and "services.shim.archive" in _cmdline(pid) and f"--name={cid}" in _cmdline(pid)]


def namespaces_with_overlay_of(daemon, cid: str) -> set[int]:
    """The mount namespaces (by inode) in which the container's overlay is mounted."""
    upper = container_files.paths(daemon.data_root, cid)["upper"]
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/mountinfo", encoding="utf-8", errors="replace") as fh:
                if any(" - overlay " in line and f"upperdir={upper}" in line for line in fh):
                    found.add(os.stat(f"/proc/{pid}/ns/mnt").st_ino)
        except OSError:   # gone meanwhile
            continue
    return found


def _tar_of(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _started_get(daemon, cid: str) -> tuple[UnixHTTPConnection, http.client.HTTPResponse]:
    conn = UnixHTTPConnection(daemon.sock, timeout=60)
    conn.request("GET", f"/v1.45/containers/{cid}/archive?path=/big")
    return conn, conn.getresponse()


def test_a_restart_ends_a_slow_copy_before_its_overlay_is_mounted_again(daemon, client, running):
    assert running.exec_run(["dd", "if=/dev/zero", "of=/big", "bs=1M", f"count={BIG_MB}"]).exit_code == 0
    conn, reply = _started_get(daemon, running.id)
    try:
        assert reply.status == 200
        got = len(reply.read(64 << 10))   # then nothing more for now: a slow reader
        until(lambda: copy_helpers(running.id), what="the copy's helper")
        running.reload()
        init = running.attrs["State"]["Pid"]
        assert len(namespaces_with_overlay_of(daemon, running.id)) == 2   # the container's and the copy's

        client.api.restart(running.id, timeout=0)
        # Once the start has returned, the copy is gone, its overlay mount with it: the only
        # one left is the new run's.
        assert copy_helpers(running.id) == []
        running.reload()
        assert running.status == "running" and running.attrs["State"]["Pid"] != init
        new_ns = os.stat(f"/proc/{running.attrs['State']['Pid']}/ns/mnt").st_ino
        assert namespaces_with_overlay_of(daemon, running.id) == {new_ns}

        # The copy fails cleanly: the archive is cut short, never completed.
        try:
            while chunk := reply.read(1 << 20):
                got += len(chunk)
        except (http.client.IncompleteRead, ConnectionError):
            pass
        assert got < BIG_MB << 20
    finally:
        conn.close()
    # The container and its copies work as before.
    assert running.exec_run(["sh", "-c", "echo -n after > /after"]).exit_code == 0
    stream, _ = running.get_archive("/after")
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tf:
        assert tf.extractfile("after").read() == b"after"
    assert copy_helpers(running.id) == []


def test_a_copy_of_a_stopped_container_ends_the_copy_it_still_had_from_its_run(daemon, client, running):
    assert running.exec_run(["sh", "-c", f"dd if=/dev/zero of=/big bs=1M count={BIG_MB} && echo -n small > /small"]
                            ).exit_code == 0
    conn, reply = _started_get(daemon, running.id)
    try:
        assert reply.status == 200
        got = len(reply.read(64 << 10))
        until(lambda: copy_helpers(running.id), what="the copy's helper")
        client.api.stop(running.id, timeout=0)
        # A stop does not wait for a slow reader: the copy, and its overlay mount, live on.
        assert copy_helpers(running.id) and len(namespaces_with_overlay_of(daemon, running.id)) == 1
        # A copy of the stopped container mounts its overlay again: the old copy goes first.
        stream, _ = running.get_archive("/small")
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tf:
            assert tf.extractfile("small").read() == b"small"
        assert copy_helpers(running.id) == [] and namespaces_with_overlay_of(daemon, running.id) == set()
        try:
            while chunk := reply.read(1 << 20):
                got += len(chunk)
        except (http.client.IncompleteRead, ConnectionError):
            pass
        assert got < BIG_MB << 20
    finally:
        conn.close()


def test_a_put_into_a_container_restarted_meanwhile_is_a_409(daemon, client, running):
    conn = UnixHTTPConnection(daemon.sock, timeout=60)
    try:
        size = BIG_MB << 20
        conn.putrequest("PUT", f"/v1.45/containers/{running.id}/archive?path=/tmp")
        conn.putheader("Content-Type", "application/x-tar")
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        info = tarfile.TarInfo("slow")
        info.size = size - 1536   # with its header and the archive's end, the whole body
        conn.send(info.tobuf())
        conn.send(b"x" * (1 << 20))   # then nothing more for now: a slow sender
        until(lambda: copy_helpers(running.id), what="the copy's helper")

        client.api.restart(running.id, timeout=0)
        assert copy_helpers(running.id) == []
        reply = conn.getresponse()
        assert reply.status == 409, reply.read()
        assert b"the container was restarted during the copy" in reply.read()
    finally:
        conn.close()
    running.reload()
    assert running.status == "running"
    assert running.put_archive("/tmp", _tar_of("after", b"after"))
    assert running.exec_run(["cat", "/tmp/after"]).output == b"after"


def test_a_removal_ends_a_slow_copy_before_the_containers_files_go(daemon, client):
    ctr = client.containers.run(BUSYBOX, ["tail", "-f", "/dev/null"], detach=True)
    assert ctr.exec_run(["dd", "if=/dev/zero", "of=/big", "bs=1M", f"count={BIG_MB}"]).exit_code == 0
    conn, reply = _started_get(daemon, ctr.id)
    try:
        assert reply.status == 200
        got = len(reply.read(64 << 10))
        until(lambda: copy_helpers(ctr.id), what="the copy's helper")
        ctr.remove(force=True)
        # Once the removal has returned, no copy holds the removed container's overlay.
        assert copy_helpers(ctr.id) == [] and namespaces_with_overlay_of(daemon, ctr.id) == set()
        try:
            while chunk := reply.read(1 << 20):
                got += len(chunk)
        except (http.client.IncompleteRead, ConnectionError):
            pass
        assert got < BIG_MB << 20
    finally:
        conn.close()
