"""docker cp against a hostile archive or a hostile container (the CVE-2018-15664 class): every
path is resolved inside the container's root, so nothing outside it is ever written or read,
whatever the tar holds and whatever the container swaps in while the copy runs. Each test
looks at the host's own files to see that."""

from __future__ import annotations

import io
import os
import secrets
import shutil
import tarfile
import tempfile

import docker
import pytest

from ..polling import until
from .containers import ensure_busybox

BUSYBOX = "busybox:latest"


@pytest.fixture(scope="module", autouse=True)
def busybox(daemon):
    ensure_busybox(daemon)


@pytest.fixture
def host_dir():
    """An empty directory of the host's that no copy may write into."""
    path = tempfile.mkdtemp(prefix="dockyard-cp-host-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def container(client):
    """A container in either state a copy meets: running, or created and never started."""
    made = []

    def make(state: str):
        if state == "running":
            ctr = client.containers.run(BUSYBOX, ["tail", "-f", "/dev/null"], detach=True)
        else:
            ctr = client.containers.create(BUSYBOX, ["true"])
        made.append(ctr)
        ctr.put_archive("/", _tar(("dest", None)))
        return ctr
    yield make
    for ctr in made:
        ctr.remove(force=True, v=True)


def _tar(*entries: tuple) -> bytes:
    """(name, data) files, (name, None) directories, (name, "sym"|"hard", target) links."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for name, *rest in entries:
            info = tarfile.TarInfo(name)
            if len(rest) == 2:
                info.type = tarfile.SYMTYPE if rest[0] == "sym" else tarfile.LNKTYPE
                info.linkname = rest[1]
                tf.addfile(info)
            elif rest[0] is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(info)
            else:
                info.size = len(rest[0])
                tf.addfile(info, io.BytesIO(rest[0]))
    return buf.getvalue()


def _put(daemon, ctr, path: str, body: bytes):
    return daemon.request("PUT", f"/v1.45/containers/{ctr.id}/archive?path={path}", body=body)


def _exists_inside(ctr, path: str) -> bool:
    try:
        ctr.get_archive(path)
        return True
    except docker.errors.NotFound:
        return False


@pytest.mark.parametrize("state", ["running", "created"])
def test_a_hostile_tar_writes_nothing_outside_the_container(daemon, container, host_dir, state):
    ctr = container(state)
    up = "../" * 24
    passwd_links = os.stat("/etc/passwd").st_nlink
    refused = [
        # Climbing out by name.
        _tar((f"{up}{host_dir.lstrip('/')}/dotdot", b"x")),
        _tar((f"inner/{up}{host_dir.lstrip('/')}/dotdot2", b"x")),
        # A symlink that points out, then an entry through it (absolute, and relative).
        _tar(("out", "sym", host_dir), ("out/through", b"x")),
        _tar(("up", "sym", up), (f"up/{host_dir.lstrip('/')}/through2", b"x")),
        _tar(("d", None), ("d/l", "sym", "/"), (f"d/l/{host_dir.lstrip('/')}/through3", b"x")),
        # Hardlinks out of the archive, by name or to the host's files.
        _tar(("hl", "hard", f"{up}etc/passwd")),
        _tar(("hl2", "hard", "/etc/passwd")),
    ]
    for body in refused:
        r = _put(daemon, ctr, "/dest", body)
        assert r.status == 400, r.body
    assert os.listdir(host_dir) == []
    assert os.stat("/etc/passwd").st_nlink == passwd_links
    # An absolute name lands below the destination, in the container.
    r = _put(daemon, ctr, "/dest", _tar((f"{host_dir}/abs", b"inside")))
    assert r.status == 200, r.body
    assert os.listdir(host_dir) == []
    assert _exists_inside(ctr, f"/dest{host_dir}/abs")
    # A symlink pointing out is kept as it is: it is the container's to follow, not the copy's.
    r = _put(daemon, ctr, "/dest", _tar(("keep", "sym", host_dir)))
    assert r.status == 200, r.body
    r = _put(daemon, ctr, "/dest/keep", _tar(("via-link", b"x")))
    assert r.status == 404, r.body   # the link leads to the container's own (missing) host_dir
    assert os.listdir(host_dir) == []


@pytest.mark.parametrize("state", ["running", "created"])
def test_a_destination_symlinked_out_stays_in_the_container(daemon, container, host_dir, state, client):
    ctr = container(state)
    marker = f"dockyard-cp-{secrets.token_hex(6)}"
    r = _put(daemon, ctr, "/", _tar(("escape", "sym", "../../../../.."), ("hostlike", "sym", host_dir)))
    assert r.status == 200, r.body
    r = _put(daemon, ctr, "/escape", _tar((marker, b"into the container's root")))
    assert r.status == 200, r.body
    assert not os.path.exists(f"/{marker}")
    assert _exists_inside(ctr, f"/{marker}")
    r = _put(daemon, ctr, "/hostlike", _tar((marker, b"x")))
    assert r.status == 404 and os.listdir(host_dir) == []
    with pytest.raises(docker.errors.NotFound):
        ctr.get_archive(f"/hostlike/{marker}")


@pytest.mark.parametrize("state", ["running", "created"])
def test_device_nodes_and_fifos_are_made_with_their_modes_in_a_view_without_proc(daemon, container, state):
    # Made by name, never followed (a process of the container could swap one for a symlink),
    # in a view with no /proc: with their owners and modes, their xattrs not set (the kernel
    # takes no user.* on one, and setting one must not need /proc).
    ctr = container(state)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, mode in (("pipe", tarfile.FIFOTYPE, 0o666), ("null2", tarfile.CHRTYPE, 0o2666)):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.devmajor, info.devminor = kind, mode, 1, 3
            info.uid = info.gid = 1234
            info.pax_headers = {"SCHILY.xattr.user.note": "x"}
            tf.addfile(info)
    r = _put(daemon, ctr, "/dest", buf.getvalue())
    assert r.status == 200, r.body
    stream, _ = ctr.get_archive("/dest")
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tf:
        members = {m.name: m for m in tf.getmembers()}
    pipe, null2 = members["dest/pipe"], members["dest/null2"]
    assert pipe.isfifo() and pipe.mode == 0o666 and (pipe.uid, pipe.gid) == (1234, 1234)
    assert null2.ischr() and (null2.devmajor, null2.devminor) == (1, 3) and null2.mode == 0o2666


def test_the_containers_proc_and_sys_are_not_the_copys(client):
    ctr = client.containers.run(BUSYBOX, ["tail", "-f", "/dev/null"], detach=True)
    try:
        # The helper runs in the host's namespaces: through the container's /proc it would
        # see those. Its view has no /proc and /sys mounted, as Docker's copy has none.
        for path in ("/proc/sys/kernel/hostname", "/proc/1/environ", "/proc/self", "/sys/class/net"):
            with pytest.raises(docker.errors.NotFound):
                ctr.get_archive(path)
        # The container's own are untouched.
        assert ctr.exec_run(["cat", "/proc/sys/kernel/hostname"]).output.strip() == ctr.id[:12].encode()
        assert ctr.exec_run(["ls", "/sys/class/net"]).exit_code == 0
        # A device node is archived as a node, never opened.
        ctr.exec_run(["mknod", "/tmp/zero", "c", "1", "5"])
        stream, stat = ctr.get_archive("/tmp/zero")
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tf:
            member = tf.next()
        assert member.ischr() and (member.devmajor, member.devminor) == (1, 5) and member.size == 0
    finally:
        ctr.remove(force=True)


def test_a_container_swapping_a_directory_for_a_symlink_to_root_reaches_nothing_of_the_hosts(client, daemon):
    marker = f"dockyard-cp-secret-{secrets.token_hex(6)}"
    planted = f"dockyard-cp-planted-{secrets.token_hex(6)}"
    token = secrets.token_hex(16).encode()
    with open(f"/{marker}", "wb") as fh:   # on the host's /, where a symlink to / would lead out
        fh.write(token)
    # Each side is held for a short count (no sleep), so copies meet both, and the moments between.
    hold = "i=0; while [ $i -lt 50 ]; do i=$((i+1)); done"
    swapper = (f"echo container > /{marker}; "
               f"while true; do rm -rf /swap; mkdir /swap; echo in-dir > /swap/{marker}; {hold}; "
               f"rm -rf /swap; ln -s / /swap; {hold}; done")
    ctr = client.containers.run(BUSYBOX, ["sh", "-c", swapper], detach=True)
    seen: dict[str, int] = {}
    breaches: list[str] = []   # kept apart: `until` takes an AssertionError for "not yet"
    try:
        def race() -> bool:
            for _ in range(10):
                try:
                    stream, _ = ctr.get_archive(f"/swap/{marker}")
                    data = b"".join(stream)
                    if token in data:
                        breaches.append("the copy read the host's file")
                    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
                        member = tf.next()   # none: it went away between its stat and its read
                        got = tf.extractfile(member).read().strip().decode() if member else "went away"
                except docker.errors.NotFound:
                    got = "missing"
                seen[got] = seen.get(got, 0) + 1
                r = daemon.request("PUT", f"/v1.45/containers/{ctr.id}/archive?path=/swap",
                                   body=_tar((planted, b"planted")))
                if r.status not in (200, 400, 404, 409):   # done, or refused as the tree moved
                    breaches.append(f"a PUT answered {r.status}: {r.body!r}")
                seen[f"put {r.status}"] = seen.get(f"put {r.status}", 0) + 1
                if os.path.exists(f"/{planted}"):
                    breaches.append("the copy wrote into the host's /")
            # Raced for real: both the directory and the symlink to the container's / were met.
            return breaches or (sum(seen.values()) >= 100 and seen.get("in-dir") and seen.get("container"))
        until(race, timeout=240, what="copies meeting both sides of the swap", detail=lambda: str(seen))
        assert breaches == [], (breaches, seen)
        with open(f"/{marker}", "rb") as fh:
            assert fh.read() == token
        assert not os.path.exists(f"/{planted}")
    finally:
        ctr.remove(force=True)
        os.unlink(f"/{marker}")
        if os.path.exists(f"/{planted}"):
            os.unlink(f"/{planted}")
