"""A container's mounts: HostConfig.Binds (ro/rw, propagation), HostConfig.Mounts (bind, volume
and tmpfs with their options), Config.Volumes and the image's VOLUMEs, as inspect shows them
and as the container sees them (/proc/mounts, /proc/self/mountinfo, writing), under both
runtimes."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import tarfile
import uuid

import docker
import pytest
from docker.types import Mount

from ..polling import until

RUNTIMES = ("builtin", "runc")


def run(client, cmd: str, runtime: str = "builtin", **kw) -> tuple[int, str]:
    ctr = client.containers.create("busybox", ["sh", "-c", f"({cmd}) 2>&1"], runtime=runtime, **kw)
    try:
        ctr.start()
        return ctr.wait(timeout=60)["StatusCode"], ctr.logs().decode()
    finally:
        ctr.remove(force=True, v=True)


def mount_options(out: str, dest: str) -> list[str]:
    """The options of the mount at `dest` in a /proc/mounts listing (the topmost one)."""
    lines = [line.split() for line in out.splitlines() if len(line.split()) > 3 and line.split()[1] == dest]
    assert lines, f"nothing mounted at {dest}: {out}"
    return lines[-1][3].split(",")


def inspect_mount(client, cid: str, dest: str) -> dict:
    found = [m for m in client.api.inspect_container(cid)["Mounts"] if m["Destination"] == dest]
    assert len(found) == 1, found
    return found[0]


@contextlib.contextmanager
def host_mount(path: str, *args: str):
    """A tmpfs mounted at `path` on the host for the test (made shared with `--make-shared`)."""
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "test", path], check=True)
    try:
        if args:
            subprocess.run(["mount", *args, path], check=True)
        yield path
    finally:
        subprocess.run(["umount", "-l", path], check=False)


def name() -> str:
    return f"vol{uuid.uuid4().hex[:10]}"


# ------------------------------------------------------------------- binds


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_binds_read_only_and_read_write(client, runtime, tmp_path):
    (tmp_path / "seen").write_text("from the host\n")
    code, out = run(client, "cat /mnt/seen; touch /mnt/made", runtime, volumes={str(tmp_path): {"bind": "/mnt",
                                                                                                "mode": "ro"}})
    assert code == 1 and "from the host" in out and "Read-only file system" in out, out
    assert not (tmp_path / "made").exists()
    code, out = run(client, "touch /mnt/made && grep ' /mnt ' /proc/mounts", runtime,
                    volumes={str(tmp_path): {"bind": "/mnt", "mode": "rw"}})
    assert code == 0 and (tmp_path / "made").exists() and "rw" in mount_options(out, "/mnt"), out


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_shared_bind_of_a_private_source_works_with_a_warning(client, runtime, tmp_path):
    host = client.api.create_host_config(binds={str(tmp_path): {"bind": "/mnt", "mode": "rw,rshared"}},
                                         runtime=runtime)
    cmd = ["sh", "-c", "touch /mnt/made; grep ' /mnt ' /proc/self/mountinfo"]
    created = client.api.create_container("busybox", cmd, host_config=host)
    try:
        # This host's / is not shared: Docker would refuse it; here it is a warning (and a test
        # host whose / is shared gets the one-way warning instead).
        assert any("it is not a shared mount" in w or "/mnt: rshared propagation is one way" in w
                   for w in created["Warnings"] or []), created
        client.api.start(created["Id"])
        assert client.api.wait(created["Id"])["StatusCode"] == 0
        assert (tmp_path / "made").exists() and b"shared:" in client.api.logs(created["Id"])
    finally:
        client.api.remove_container(created["Id"], force=True)


def test_binds_in_inspect(client, tmp_path):
    ctr = client.containers.create("busybox", "true", volumes=[f"{tmp_path}:/ro:ro", f"{tmp_path}:/rw",
                                                               f"{tmp_path}:/sh:rw,rshared"])
    try:
        assert inspect_mount(client, ctr.id, "/ro") == {"Type": "bind", "Source": str(tmp_path), "Destination": "/ro",
                                                       "Mode": "ro", "RW": False, "Propagation": "rprivate"}
        assert inspect_mount(client, ctr.id, "/rw")["Mode"] == "" and inspect_mount(client, ctr.id, "/rw")["RW"]
        assert inspect_mount(client, ctr.id, "/sh")["Propagation"] == "rshared"
    finally:
        ctr.remove()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_read_only_binds_are_read_only_below_too_unless_asked(client, runtime, tmp_path):
    source = tmp_path / "src"
    with host_mount(str(source / "sub")):
        code, out = run(client, "touch /mnt/sub/x", runtime, volumes={str(source): {"bind": "/mnt", "mode": "ro"}})
        assert code == 1 and "Read-only file system" in out, out
        shallow = Mount("/mnt", str(source), type="bind", read_only=True)
        shallow["BindOptions"] = {"ReadOnlyNonRecursive": True}
        code, out = run(client, "touch /mnt/sub/x && touch /mnt/y", runtime, mounts=[shallow])
        assert code == 1 and (source / "sub" / "x").exists() and "Read-only file system" in out, out


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_bind_propagation(client, runtime, tmp_path):
    """rslave: what the host mounts below the source later reaches the container; rprivate:
    it does not; rshared: the container's mount is a shared one."""
    with host_mount(str(tmp_path / "src"), "--make-shared") as source:
        def started(mode: str):
            return client.containers.run("busybox", "cat", stdin_open=True, detach=True, runtime=runtime,
                                         volumes={source: {"bind": "/mnt", "mode": mode}})
        slave, private, shared = started("rslave"), started("rprivate"), started("rshared")
        try:
            with host_mount(os.path.join(source, "late")):
                until(lambda: slave.exec_run("grep -c ' /mnt/late ' /proc/mounts").output == b"1\n", 20,
                      "the host's new mount in the rslave bind")
                assert private.exec_run("grep -c ' /mnt/late ' /proc/mounts").output == b"0\n"
            info = shared.exec_run("grep ' /mnt ' /proc/self/mountinfo").output.decode()
            assert "shared:" in info, info
            info = private.exec_run("grep ' /mnt ' /proc/self/mountinfo").output.decode()
            assert "shared:" not in info and "master:" not in info, info
        finally:
            for ctr in (slave, private, shared):
                ctr.remove(force=True)


def test_config_volumes_and_a_bind_at_one_place_make_one_mount(client, tmp_path):
    created = client.api.create_container("busybox", "true", volumes=["/mnt"],
                                          host_config=client.api.create_host_config(binds={str(tmp_path): "/mnt"}))
    try:
        assert inspect_mount(client, created["Id"], "/mnt")["Type"] == "bind"
    finally:
        client.api.remove_container(created["Id"], v=True)


@pytest.mark.parametrize("binds, mounts, tmpfs, words", [
    (["/tmp:/x", "/var:/x"], [], None, "Duplicate mount point: /x"),
    (["/tmp:/x"], [Mount("/x", "/var", type="bind")], None, "Duplicate mount point: /x"),
    (["/tmp:/x"], [], {"/x": ""}, "Duplicate mount point: /x"),
    (["/tmp:/x:bogus"], [], None, "invalid mode: bogus"),
    (["/tmp:rw"], [], None, "invalid volume specification: '/tmp:rw'"),
    (["/tmp:relative"], [], None, "must be absolute"),
    (["vol1:/x:rshared"], [], None, "field BindOptions must not be specified"),
    (["/tmp:/"], [], None, "destination can't be '/'"),
    (["bad/name:/x"], [], None, "includes invalid characters for a local volume name"),
    ([], [Mount("/x", "/no/such/dir/here", type="bind")], None, "bind source path does not exist: /no/such/dir"),
    ([], [Mount("/x", "", type="volume", read_only=True)], None, "must not set ReadOnly mode"),
    ([], [Mount("/x", "v", type="volume", subpath="../up")], None, "subpath must be a relative path"),
    ([], [Mount("/x", "/tmp", type="tmpfs")], None, "field Source must not be specified"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_mounts_are_refused_at_create(client, binds, mounts, tmpfs, words):
    with pytest.raises(docker.errors.APIError) as exc:
        client.api.create_container("busybox", "true", host_config=client.api.create_host_config(
            binds=binds, mounts=mounts, tmpfs=tmpfs))
    assert exc.value.status_code == 400 and words in str(exc.value.explanation), exc.value.explanation


def test_volume_driver_options_the_local_driver_refuses_are_refused(client):
    # The local driver's options are honoured (test_volumes.py); those it refuses are a 400 in
    # its words, and no volume is made.
    vol = name()
    for options, words in (({"type": "tmpfs"}, 'missing required option: "device"'),
                           ({"type": "tmpfs", "device": "tmpfs", "color": "red"}, 'invalid option: "color"')):
        mount = Mount("/x", vol, driver_config=docker.types.DriverConfig("local", options))
        with pytest.raises(docker.errors.APIError) as exc:
            client.containers.create("busybox", "true", mounts=[mount])
        assert exc.value.status_code == 400 and words in str(exc.value.explanation), exc.value.explanation
    with pytest.raises(docker.errors.NotFound):
        client.volumes.get(vol)


def test_a_volume_driver_that_is_not_there_is_a_404(client):
    with pytest.raises(docker.errors.NotFound) as exc:
        client.containers.create("busybox", "true", volume_driver="nodriver", volumes=["/data"])
    assert 'plugin "nodriver" not found' in str(exc.value.explanation)


# ------------------------------------------------------------------ mounts


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_mounts_of_each_type(client, runtime, tmp_path):
    (tmp_path / "f").write_text("bound\n")
    vol = name()
    mounts = [Mount("/b", str(tmp_path), type="bind", read_only=True),
              Mount("/v", vol, type="volume"),
              Mount("/t", "", type="tmpfs", tmpfs_size=1 << 20, tmpfs_mode=0o1700)]
    cmd = "cat /b/f; echo kept > /v/data; grep -E ' /(b|v|t) ' /proc/mounts"
    ctr = client.containers.create("busybox", ["sh", "-c", cmd], runtime=runtime, mounts=mounts)
    try:
        ctr.start()
        assert ctr.wait()["StatusCode"] == 0
        out = ctr.logs().decode()
        assert out.startswith("bound\n") and "ro" in mount_options(out, "/b") and "rw" in mount_options(out, "/v")
        assert {"size=1024k", "mode=1700", "noexec", "nosuid", "nodev"} <= set(mount_options(out, "/t")), out
        volume = inspect_mount(client, ctr.id, "/v")
        assert (volume["Type"], volume["Name"], volume["Driver"], volume["RW"], volume["Mode"]) == \
            ("volume", vol, "local", True, "z")
        assert inspect_mount(client, ctr.id, "/t") == {"Type": "tmpfs", "Source": "", "Destination": "/t", "Mode": "",
                                                      "RW": True, "Propagation": ""}
        assert inspect_mount(client, ctr.id, "/b")["RW"] is False
    finally:
        ctr.remove(force=True)
    # The named volume outlives the container; another sees its data, read-only if asked.
    code, out = run(client, "cat /again/data; touch /again/x", runtime,
                    mounts=[Mount("/again", vol, type="volume", read_only=True)])
    assert code == 1 and out.startswith("kept\n") and "Read-only file system" in out, out


def test_a_bind_mount_source_is_made_only_if_asked(client, tmp_path):
    source = tmp_path / "made" / "here"
    make = Mount("/x", str(source), type="bind")
    make["BindOptions"] = {"CreateMountpoint": True}
    ctr = client.containers.create("busybox", "true", mounts=[make])
    ctr.remove()
    assert source.is_dir()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_volume_subpath(client, runtime):
    vol = name()
    code, _ = run(client, "mkdir -p /vol/subdir && echo 'test content' > /vol/subdir/testfile.txt", runtime,
                  volumes=[f"{vol}:/vol"])
    assert code == 0
    code, out = run(client, "cat /mnt/testfile.txt; ls /mnt", runtime,
                    mounts=[Mount("/mnt", vol, type="volume", read_only=True, subpath="subdir")])
    assert code == 0 and out == "test content\ntestfile.txt\n", out
    with pytest.raises(docker.errors.APIError) as exc:
        run(client, "true", runtime, mounts=[Mount("/mnt", vol, type="volume", subpath="missing")])
    assert exc.value.status_code == 400 and "cannot access path" in str(exc.value.explanation)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_volume_subpath_naming_a_file_and_a_copy_from_a_stopped_container(client, runtime):
    # The runtime binds what its own no-symlink walk reached (runc: a private bind the shim made
    # of it), a file as well as a directory; so does the copy's helper of a stopped container.
    vol = name()
    code, _ = run(client, "mkdir -p /vol/d && echo one > /vol/d/f", runtime, volumes=[f"{vol}:/vol"])
    assert code == 0
    code, out = run(client, "cat /etc/f.conf", runtime,
                    mounts=[Mount("/etc/f.conf", vol, type="volume", subpath="d/f")])
    assert code == 0 and out == "one\n", out
    ctr = client.containers.create("busybox", "true", runtime=runtime,
                                   mounts=[Mount("/mnt", vol, type="volume", subpath="d")])
    try:
        stream, _ = ctr.get_archive("/mnt/f")
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tf:
            assert tf.extractfile(tf.next()).read() == b"one\n"
    finally:
        ctr.remove(force=True)


# ------------------------------------------------- volumes filled from the image


@pytest.fixture(scope="module")
def seeded(client):
    """An image with files in /seed, which it declares a VOLUME."""
    ctr = client.containers.run("busybox", ["sh", "-c", "mkdir -p /seed/deep && echo planted > /seed/deep/file && "
                                            "chown 65534:65534 /seed/deep/file && chmod 640 /seed/deep/file"],
                                detach=True)
    ctr.wait()
    image = ctr.commit("seeded-volume", "latest", changes=["VOLUME /seed"])
    ctr.remove()
    yield image.id
    client.images.remove(image.id, force=True)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_new_volume_gets_the_images_files(client, runtime, seeded):
    # The image's own VOLUME, an anonymous volume, and a new named one: each filled.
    cmd = "stat -c '%u %a' /seed/deep/file; cat /seed/deep/file"
    for kw in ({}, {"volumes": ["/seed"]}, {"volumes": [f"{name()}:/seed"]}):
        ctr = client.containers.create(seeded, ["sh", "-c", cmd], runtime=runtime, **kw)
        try:
            ctr.start()
            assert ctr.wait()["StatusCode"] == 0 and ctr.logs() == b"65534 640\nplanted\n", (kw, ctr.logs())
            assert inspect_mount(client, ctr.id, "/seed")["Type"] == "volume"
        finally:
            ctr.remove(force=True, v=True)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_nocopy_leaves_a_volume_empty(client, runtime, seeded):
    for kw in ({"volumes": [f"{name()}:/seed:nocopy"]}, {"mounts": [Mount("/seed", name(), no_copy=True)]}):
        ctr = client.containers.create(seeded, ["ls", "-A", "/seed"], runtime=runtime, **kw)
        try:
            ctr.start()
            assert ctr.wait()["StatusCode"] == 0 and ctr.logs() == b"", (kw, ctr.logs())
        finally:
            ctr.remove(force=True, v=True)


def test_a_volume_with_files_is_not_filled_again(client, seeded):
    vol = name()
    assert run(client, "echo mine > /data/own", volumes=[f"{vol}:/data"])[0] == 0
    ctr = client.containers.create(seeded, ["ls", "/seed"], volumes=[f"{vol}:/seed"])
    try:
        ctr.start()
        assert ctr.wait()["StatusCode"] == 0 and ctr.logs() == b"own\n"
    finally:
        ctr.remove(force=True)


# ------------------------------------------------- copies of a stopped container


def _mounted(path: str) -> bool:
    with open("/proc/self/mountinfo") as fh:
        return any(line.split()[4] == path for line in fh)


def test_a_copy_of_a_stopped_container_reaches_its_bind_backed_volume(client, tmp_path):
    # As dockerd: the volumes of a stopped container are mounted for a copy, so what is copied
    # in lands on the device (not in the volume's own directory, which the mount hides) and
    # what the device holds is copied out; the mount is given back when the copy ends.
    device = tmp_path / "device"
    device.mkdir()
    (device / "from-host").write_text("host\n")
    vol = client.volumes.create(name(), driver_opts={"type": "none", "o": "bind", "device": str(device)})
    ctr = client.containers.create("busybox", "true", volumes=[f"{vol.name}:/srv"])
    try:
        upload = io.BytesIO()
        with tarfile.open(fileobj=upload, mode="w") as tf:
            info = tarfile.TarInfo("put")
            info.size = len(b"copied in\n")
            tf.addfile(info, io.BytesIO(b"copied in\n"))
        assert ctr.put_archive("/srv", upload.getvalue())
        assert (device / "put").read_text() == "copied in\n"
        stream, stat = ctr.get_archive("/srv/from-host")
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tf:
            assert tf.extractfile(tf.next()).read() == b"host\n"
        assert stat["name"] == "from-host" and stat["size"] == 5, stat
        until(lambda: not _mounted(vol.attrs["Mountpoint"]), 10, "the volume to be unmounted after the copies")
        assert os.listdir(vol.attrs["Mountpoint"]) == []   # nothing went under the mount point itself
    finally:
        ctr.remove(force=True)
        vol.remove()
    assert sorted(os.listdir(device)) == ["from-host", "put"]
