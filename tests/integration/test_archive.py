"""docker cp (HEAD, GET and PUT /containers/{id}/archive) as Docker does it, with docker-py, raw
HTTP and the docker CLI: files, directories and symlinks of running and stopped containers,
their volumes and binds, Docker's path rules, stat header and refusals."""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import tarfile

import docker
import pytest

from .containers import docker as cli, ensure_busybox

BUSYBOX = "busybox:latest"
DIR_BIT, SYMLINK_BIT, SETUID_BIT, SETGID_BIT, STICKY_BIT = 1 << 31, 1 << 27, 1 << 23, 1 << 22, 1 << 20


@pytest.fixture(scope="module", autouse=True)
def busybox(daemon):
    ensure_busybox(daemon)


@pytest.fixture
def made(client):
    """Containers a test makes, removed (with their volumes) at its end."""
    ctrs = []
    yield ctrs
    for ctr in ctrs:
        try:
            ctr.remove(force=True, v=True)
        except docker.errors.NotFound:
            pass


def _running(client, made, **kw):
    ctr = client.containers.run(BUSYBOX, ["tail", "-f", "/dev/null"], detach=True, **kw)
    made.append(ctr)
    return ctr


def _exited(client, made, script: str, **kw):
    """A container that ran `script` to its end."""
    ctr = client.containers.run(BUSYBOX, ["sh", "-c", script], detach=True, **kw)
    made.append(ctr)
    assert ctr.wait(timeout=60)["StatusCode"] == 0, ctr.logs()
    return ctr


def _tar(*entries: tuple) -> bytes:
    """A tar of (name, data) files, (name, None) directories, (name, "->", target) symlinks."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for entry in entries:
            info = tarfile.TarInfo(entry[0])
            if len(entry) == 3:
                info.type, info.linkname = tarfile.SYMTYPE, entry[2]
                tf.addfile(info)
            elif entry[1] is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(info)
            else:
                info.size, info.mode = len(entry[1]), 0o644
                tf.addfile(info, io.BytesIO(entry[1]))
    return buf.getvalue()


def _members(stream) -> dict[str, tarfile.TarInfo]:
    data = b"".join(stream)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return {m.name: m for m in tf.getmembers()}


def _content(ctr, path: str) -> bytes:
    stream, _ = ctr.get_archive(path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tf:
        member = tf.next()
        return tf.extractfile(member).read()


def _stat_header(reply) -> dict:
    return json.loads(base64.b64decode(reply.headers["X-Docker-Container-Path-Stat"]))


# ------------------------------------------------------------------ docker-py


def test_a_file_of_a_stopped_containers_volume_is_read_with_its_stat(client, made):
    data = "The Maid and the Pocket Watch of Blood"
    ctr = _exited(client, made, f"echo -n {data} > /vol1/data.txt", volumes=["/vol1"])
    stream, stat = ctr.get_archive("/vol1/data.txt")
    members = _members(stream)
    assert list(members) == ["data.txt"]
    assert stat["name"] == "data.txt" and stat["size"] == len(data) and stat["linkTarget"] == ""
    assert stat["mode"] == 0o644
    assert _content(ctr, "/vol1/data.txt") == data.encode()


def test_a_file_put_into_a_created_containers_volume_is_there_when_it_runs(client, made):
    # As docker-py's own test does it: the low-level API, an anonymous volume of the config.
    ctr = client.containers.get(client.api.create_container(BUSYBOX, "cat /vol1/test_file", volumes=["/vol1"]))
    made.append(ctr)
    assert ctr.attrs["Config"]["Volumes"] == {"/vol1": {}}
    assert ctr.put_archive("/vol1", _tar(("test_file", b"Deaf To All But The Song")))
    ctr.start()
    ctr.wait(timeout=60)
    assert ctr.logs().strip() == b"Deaf To All But The Song"


def test_a_tree_put_into_a_created_container_keeps_its_shape(client, made):
    ctr = client.containers.create(BUSYBOX, ["ls", "-p", "/vol1", "/vol1/foo"], volumes=["/vol1"])
    made.append(ctr)
    ctr.put_archive("/vol1", _tar(("a.py", b"a"), ("b.py", b"b"), ("foo", None), ("foo/b.py", b"fb"),
                                  ("bar", None)))
    ctr.start()
    ctr.wait(timeout=60)
    out = ctr.logs().decode().split()
    assert {"a.py", "b.py", "foo/", "bar/"} <= set(out)
    assert "/vol1/foo:" in out and out[out.index("/vol1/foo:") + 1] == "b.py"


@pytest.mark.parametrize("runtime, paused", [("builtin", False), ("runc", False), ("builtin", True)])
def test_a_running_container_takes_files_and_gives_them_back(client, made, runtime, paused):
    ctr = _running(client, made, runtime=runtime)
    if paused:   # a copy does not need the container's processes, as in Docker
        ctr.pause()
    ctr.put_archive("/tmp", _tar(("d", None), ("d/f", b"one"), ("d/l", "->", "f")))
    assert _content(ctr, "/tmp/d/f") == b"one"
    if paused:
        ctr.unpause()
    assert ctr.exec_run(["cat", "/tmp/d/f"]).output == b"one"
    assert ctr.exec_run(["readlink", "/tmp/d/l"]).output.strip() == b"f"
    stream, stat = ctr.get_archive("/tmp/d")
    members = _members(stream)
    assert sorted(members) == ["d", "d/f", "d/l"]
    assert members["d"].isdir() and members["d/l"].issym() and members["d/l"].linkname == "f"
    assert stat["name"] == "d" and stat["mode"] == DIR_BIT | 0o755


def test_trailing_dot_archives_a_directorys_contents(client, made):
    ctr = _running(client, made)
    ctr.exec_run(["sh", "-c", "mkdir -p /x/y && echo hi > /x/y/z"])
    stream, stat = ctr.get_archive("/x/.")
    assert sorted(_members(stream)) == [".", "./y", "./y/z"]
    assert stat["name"] == "."


def test_a_symlink_is_archived_as_itself_and_followed_with_a_trailing_slash(client, made):
    ctr = _running(client, made)
    ctr.exec_run(["sh", "-c", "mkdir -p /real/in && echo hi > /real/in/f && ln -s /real /link "
                              "&& ln -s ../real/in /real/rel && ln -s /nowhere/at/all /dangling"])
    stream, stat = ctr.get_archive("/link")
    members = _members(stream)
    assert list(members) == ["link"] and members["link"].issym() and members["link"].linkname == "/real"
    assert stat["mode"] & SYMLINK_BIT and stat["linkTarget"] == "/real" and stat["name"] == "link"
    # linkTarget is the path it leads to inside the container, every link followed.
    assert ctr.get_archive("/real/rel")[1]["linkTarget"] == "/real/in"
    assert ctr.get_archive("/dangling")[1]["linkTarget"] == "/nowhere/at/all"
    stream, stat = ctr.get_archive("/link/")
    assert sorted(_members(stream)) == ["link", "link/in", "link/in/f", "link/rel"]
    assert stat["mode"] & DIR_BIT and stat["name"] == "link"


def test_odd_paths_are_paths(client, made, daemon):
    ctr = _running(client, made)
    ctr.put_archive("/", _tar(("-odd dir", None), ("-odd dir/--f é", b"odd")))
    # Relative (below /), starting with a dash, with spaces and non-ASCII: a path, nothing else.
    assert _content(ctr, "-odd dir/--f é") == b"odd"
    assert ctr.get_archive("-odd dir/--f é")[1]["name"] == "--f é"
    r = daemon.request("GET", f"/containers/{ctr.id}/archive?path=%2Ftmp%00x")
    assert r.status == 400, r.body


def test_stat_modes_and_times_are_gos(client, made):
    ctr = _running(client, made)
    ctr.exec_run(["sh", "-c", "touch /s && chmod 6755 /s && mkdir /t && chmod 1777 /t && mkfifo /p"])
    assert ctr.get_archive("/s")[1]["mode"] == SETUID_BIT | SETGID_BIT | 0o755
    assert ctr.get_archive("/t")[1]["mode"] == DIR_BIT | STICKY_BIT | 0o777
    assert ctr.get_archive("/p")[1]["mode"] == (1 << 25) | 0o644
    assert ctr.get_archive("/dev/null")[1]["mode"] == (1 << 26) | (1 << 21) | 0o666
    mtime = ctr.get_archive("/s")[1]["mtime"]
    assert mtime.endswith("Z") and "T" in mtime and len(mtime.split(".")[-1]) <= 10


def test_a_missing_path_is_a_404_in_dockers_words(client, made, daemon):
    ctr = _running(client, made, name="cp_missing")
    with pytest.raises(docker.errors.NotFound) as err:
        client.api.get_archive("cp_missing", "/no/such/file")
    assert "Could not find the file /no/such/file in container cp_missing" in err.value.explanation
    assert daemon.request("HEAD", f"/v1.45/containers/{ctr.id}/archive?path=/no").status == 404
    with pytest.raises(docker.errors.NotFound):
        ctr.put_archive("/no/such/dir", _tar(("f", b"x")))
    with pytest.raises(docker.errors.APIError) as err:
        ctr.put_archive("/etc/passwd", _tar(("f", b"x")))
    assert err.value.status_code == 400 and "extraction point is not a directory" in err.value.explanation


def test_no_overwrite_dir_non_dir_refuses_in_dockers_words(client, made, daemon):
    ctr = _running(client, made)
    ctr.exec_run(["sh", "-c", "mkdir -p /dst/sub && echo keep > /dst/sub/k && echo f > /dst/file"])
    r = daemon.request("PUT", f"/v1.45/containers/{ctr.id}/archive?path=/dst&noOverwriteDirNonDir=true",
                       body=_tar(("sub", b"now a file")))
    assert r.status == 400, r.body
    assert r.json()["message"] == 'cannot overwrite directory "/dst/sub" with non-directory "/dst"'
    r = daemon.request("PUT", f"/v1.45/containers/{ctr.id}/archive?path=/dst&noOverwriteDirNonDir=1",
                       body=_tar(("file", None)))
    assert r.status == 400 and "cannot overwrite non-directory" in r.json()["message"], r.body
    assert ctr.exec_run(["cat", "/dst/sub/k"]).output == b"keep\n"
    # Without it (or with it false), a directory is replaced by a file, as in Docker.
    r = daemon.request("PUT", f"/v1.45/containers/{ctr.id}/archive?path=/dst&noOverwriteDirNonDir=0",
                       body=_tar(("sub", b"now a file")))
    assert r.status == 200, r.body
    assert ctr.exec_run(["cat", "/dst/sub"]).output == b"now a file"


def _owned_tar(name: str, uid: int, gid: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo(name)
        info.uid, info.gid, info.size = uid, gid, 1
        tf.addfile(info, io.BytesIO(b"x"))
    return buf.getvalue()


@pytest.mark.parametrize("user, owner", [("nobody", "65534:65534"), ("nobody:root", "65534:0"),
                                         ("1234:nogroup", "1234:65534"), ("4242", "4242:0"), ("", "4321:8765")])
def test_copy_uid_gid_gives_files_to_the_containers_user(client, made, daemon, user, owner):
    # The image's passwd and group: nobody is 65534:65534, nogroup 65534, root 0. A uid it
    # does not list gets gid 0; no User at all keeps the tar's owners.
    ctr = client.containers.create(BUSYBOX, ["stat", "-c", "%u:%g %n", "/tmp/a", "/tmp/b"], user=user)
    made.append(ctr)
    r = daemon.request("PUT", f"/containers/{ctr.id}/archive?path=/tmp&copyUIDGID=1",
                       body=_owned_tar("a", 4321, 8765))
    assert r.status == 200, r.body
    r = daemon.request("PUT", f"/containers/{ctr.id}/archive?path=/tmp", body=_owned_tar("b", 4321, 8765))
    assert r.status == 200, r.body
    ctr.start()
    ctr.wait(timeout=60)
    assert ctr.logs().decode().split("\n")[:2] == [f"{owner} /tmp/a", "4321:8765 /tmp/b"]


def test_a_user_the_container_does_not_know_is_refused_for_copy_uid_gid(client, made, daemon):
    ctr = client.containers.create(BUSYBOX, ["true"], user="nosuchuser")
    made.append(ctr)
    r = daemon.request("PUT", f"/containers/{ctr.id}/archive?path=/tmp&copyUIDGID=true", body=_tar(("a", b"a")))
    assert r.status == 400
    assert 'failed to look up user "nosuchuser" in container' in r.json()["message"]


@pytest.mark.parametrize("state", ["running", "stopped"])
def test_read_only_rootfs_and_volumes_refuse_a_put_with_a_400(client, made, state, tmp_path):
    (tmp_path / "ro").mkdir()
    (tmp_path / "rw").mkdir()
    kw = dict(read_only=True, volumes={str(tmp_path / "ro"): {"bind": "/robind", "mode": "ro"},
                                       str(tmp_path / "rw"): {"bind": "/rw", "mode": "rw"}})
    if state == "running":
        ctr = _running(client, made, **kw)
    else:
        ctr = client.containers.create(BUSYBOX, ["true"], **kw)
        made.append(ctr)
    with pytest.raises(docker.errors.APIError) as err:
        ctr.put_archive("/tmp", _tar(("f", b"x")))
    assert err.value.status_code == 400 and "container rootfs is marked read-only" in err.value.explanation
    with pytest.raises(docker.errors.APIError) as err:
        ctr.put_archive("/robind", _tar(("f", b"x")))
    assert err.value.status_code == 400 and "mounted volume is marked read-only" in err.value.explanation
    assert not (tmp_path / "ro" / "f").exists()
    assert ctr.put_archive("/rw", _tar(("f", b"in the volume")))
    assert (tmp_path / "rw" / "f").read_bytes() == b"in the volume"
    assert _content(ctr, "/rw/f") == b"in the volume"


def test_a_bind_of_a_stopped_container_is_written_through(client, made, tmp_path):
    ctr = client.containers.create(BUSYBOX, ["true"], volumes={str(tmp_path): {"bind": "/host", "mode": "rw"}})
    made.append(ctr)
    ctr.put_archive("/host", _tar(("sub", None), ("sub/f", b"through the bind")))
    assert (tmp_path / "sub" / "f").read_bytes() == b"through the bind"
    (tmp_path / "from-host").write_bytes(b"seen")
    assert _content(ctr, "/host/from-host") == b"seen"


def test_a_compressed_archive_is_taken(client, made):
    ctr = _running(client, made)
    ctr.put_archive("/tmp", gzip.compress(_tar(("gz", b"unpacked"))))
    assert ctr.exec_run(["cat", "/tmp/gz"]).output == b"unpacked"


@pytest.mark.parametrize("state", ["running", "created", "exited"])
def test_raw_http_head_get_and_put_with_and_without_a_version(daemon, client, made, state):
    if state == "running":
        ctr = _running(client, made)
    elif state == "exited":
        ctr = _exited(client, made, "true")
    else:
        ctr = client.containers.create(BUSYBOX, ["true"])
        made.append(ctr)
    for prefix in ("", "/v1.45"):
        r = daemon.request("PUT", f"{prefix}/containers/{ctr.id}/archive?path=/tmp", body=_tar(("h", b"x")))
        assert (r.status, r.body) == (200, b"")
        r = daemon.request("HEAD", f"{prefix}/containers/{ctr.id}/archive?path=/tmp/h")
        assert r.status == 200 and r.body == b""
        assert _stat_header(r)["name"] == "h" and _stat_header(r)["size"] == 1
        r = daemon.request("GET", f"{prefix}/containers/{ctr.id}/archive?path=/tmp/h")
        assert r.status == 200 and r.headers["Content-Type"] == "application/x-tar"
        assert _stat_header(r)["name"] == "h"
        for method in ("HEAD", "GET", "PUT"):
            r = daemon.request(method, f"{prefix}/containers/{ctr.id}/archive")
            assert r.status == 400, (method, r.body)
        r = daemon.request("GET", f"{prefix}/containers/nosuchcontainer/archive?path=/")
        assert r.status == 404


# ------------------------------------------------------------------ the docker CLI


def test_docker_cp_both_ways_on_running_and_stopped_containers(daemon, client, made, tmp_path):
    src = tmp_path / "src"
    (src / "deep").mkdir(parents=True)
    (src / "top.txt").write_bytes(b"top")
    (src / "deep" / "low.txt").write_bytes(b"low")
    os.symlink("top.txt", src / "link")
    running = _running(client, made)
    stopped = client.containers.create(BUSYBOX, ["true"])
    made.append(stopped)
    for ctr in (running, stopped):
        out = cli(daemon, "cp", str(src), f"{ctr.id}:/copied")
        assert out.returncode == 0, out.stderr
        out = cli(daemon, "cp", str(src / "top.txt"), f"{ctr.id}:/copied/renamed.txt")
        assert out.returncode == 0, out.stderr
        back = tmp_path / f"back-{ctr.id[:12]}"
        out = cli(daemon, "cp", f"{ctr.id}:/copied", str(back))
        assert out.returncode == 0, out.stderr
        assert (back / "deep" / "low.txt").read_bytes() == b"low"
        assert (back / "renamed.txt").read_bytes() == b"top"
        assert os.readlink(back / "link") == "top.txt"
        # "/." copies the contents into an existing directory.
        into = tmp_path / f"into-{ctr.id[:12]}"
        into.mkdir()
        out = cli(daemon, "cp", f"{ctr.id}:/copied/deep/.", str(into))
        assert out.returncode == 0, out.stderr
        assert sorted(os.listdir(into)) == ["low.txt"]
        # A symlink is copied as itself; -L follows it.
        out = cli(daemon, "cp", f"{ctr.id}:/copied/link", str(tmp_path / f"l-{ctr.id[:12]}"))
        assert out.returncode == 0 and os.path.islink(tmp_path / f"l-{ctr.id[:12]}"), out.stderr
        out = cli(daemon, "cp", "-L", f"{ctr.id}:/copied/link", str(tmp_path / f"f-{ctr.id[:12]}"))
        assert out.returncode == 0, out.stderr
        assert (tmp_path / f"f-{ctr.id[:12]}").read_bytes() == b"top"
        # To stdout: the tar itself.
        out = cli(daemon, "cp", f"{ctr.id}:/copied/top.txt", "-")
        assert out.returncode == 0, out.stderr
        with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tf:
            assert tf.extractfile("top.txt").read() == b"top"
    assert running.exec_run(["cat", "/copied/deep/low.txt"]).output == b"low"


def test_docker_cp_of_a_missing_path_says_so(daemon, client, made, tmp_path):
    _running(client, made, name="cp_cli_missing")
    stopped = client.containers.create(BUSYBOX, ["true"], name="cp_cli_missing_stopped")
    made.append(stopped)
    for name in ("cp_cli_missing", "cp_cli_missing_stopped"):
        out = cli(daemon, "cp", f"{name}:/no/such", str(tmp_path / "x"))
        assert out.returncode != 0
        assert f"Could not find the file /no/such in container {name}".encode() in out.stderr, out.stderr
        assert not (tmp_path / "x").exists()
        (tmp_path / "f").write_bytes(b"f")
        out = cli(daemon, "cp", str(tmp_path / "f"), f"{name}:/no/such/dir/")
        assert out.returncode != 0 and b"no such directory" in out.stderr, out.stderr   # the CLI's words, from a 404


def test_docker_cp_will_not_put_a_file_where_a_directory_is(daemon, client, made, tmp_path):
    ctr = _running(client, made)
    ctr.exec_run(["mkdir", "-p", "/target/thing/inner"])
    (tmp_path / "thing").write_bytes(b"a file")
    out = cli(daemon, "cp", str(tmp_path / "thing"), f"{ctr.id}:/target/")
    assert out.returncode != 0
    assert b"cannot overwrite directory" in out.stderr, out.stderr
    assert ctr.exec_run(["test", "-d", "/target/thing/inner"]).exit_code == 0
