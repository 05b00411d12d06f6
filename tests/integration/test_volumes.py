"""Volumes: create, list (and its filters), inspect, remove and prune through docker-py, raw
HTTP and the docker CLI; a volume shared by containers; tmpfs-backed and bind-backed volumes
mounted while containers use them and unmounted after the last; records and mounts through
a restart of the supervisor."""

from __future__ import annotations

import json
import os
import re
import signal
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor

import docker
import pytest
from docker.types import DriverConfig, Mount

from ..polling import until
from .containers import docker as cli

ANONYMOUS = "com.docker.volume.anonymous"
TMPFS = {"type": "tmpfs", "device": "tmpfs", "o": "size=2m"}


def unique(prefix: str = "vol") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def query(filters: dict) -> str:
    return "filters=" + urllib.parse.quote(json.dumps(filters))


def post(daemon, path: str, body) -> tuple[int, dict]:
    r = daemon.request("POST", path, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    return r.status, r.json()


def mounted(path: str) -> bool:
    """Whether `path` is a mount point on the host."""
    with open("/proc/self/mountinfo") as fh:
        return any(line.split()[4] == path for line in fh)


@pytest.fixture
def made(client):
    """Containers and volumes a test makes, removed after it."""
    things = {"containers": [], "volumes": []}
    yield things
    for ctr in things["containers"]:
        try:
            ctr.remove(force=True, v=True)
        except docker.errors.NotFound:
            pass
    for name in things["volumes"]:
        try:
            client.api.remove_volume(name, force=True)
        except docker.errors.APIError:
            pass


def volume(client, made, name: str | None = None, **kw):
    vol = client.volumes.create(name, **kw) if name else client.volumes.create(**kw)
    made["volumes"].append(vol.name)
    return vol


def running(client, made, mounts=None, volumes=None, cmd=("top",)):
    """A container that runs until stopped (top, as no test sleeps)."""
    ctr = client.containers.run("busybox", list(cmd), detach=True, mounts=mounts or [], volumes=volumes or [])
    made["containers"].append(ctr)
    return ctr


def sh(ctr, script: str) -> tuple[int, str]:
    code, out = ctr.exec_run(["sh", "-c", script])
    return code, out.decode()


# ------------------------------------------------------------------ records


def test_create_inspect_list_and_remove(client, daemon, made):
    name = unique()
    created = client.api.create_volume(name, labels={"tier": "front"})
    made["volumes"].append(name)
    mountpoint = os.path.join(daemon.data_root, "volumes", name, "_data")
    assert created == {"CreatedAt": created["CreatedAt"], "Driver": "local", "Labels": {"tier": "front"},
                       "Mountpoint": mountpoint, "Name": name, "Options": {}, "Scope": "local"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", created["CreatedAt"]), created
    assert os.path.isdir(mountpoint)
    assert client.api.inspect_volume(name) == created
    listed = client.api.volumes()
    assert created in listed["Volumes"] and listed["Warnings"] == []
    # Making it again answers it as it is (Docker: labels and options asked for are not applied).
    again = client.api.create_volume(name, labels={"tier": "back"})
    assert again == created
    client.api.remove_volume(name)
    assert not os.path.exists(os.path.dirname(mountpoint))
    assert name not in [v["Name"] for v in client.api.volumes()["Volumes"]]
    with pytest.raises(docker.errors.NotFound) as exc:
        client.api.inspect_volume(name)
    assert f"get {name}: no such volume" in str(exc.value.explanation)


def test_a_volume_without_a_name_is_anonymous(client, daemon, made):
    status, body = post(daemon, "/v1.45/volumes/create", {})
    assert status == 201, body
    made["volumes"].append(body["Name"])
    assert re.fullmatch(r"[0-9a-f]{64}", body["Name"]) and body["Labels"] == {ANONYMOUS: ""}, body
    # No body at all is an empty request too, as dockerd reads it.
    r = daemon.request("POST", "/v1.45/volumes/create")
    assert r.status == 201, r.body
    made["volumes"].append(r.json()["Name"])


@pytest.mark.parametrize("body, status, words", [
    ({"Name": "x"}, 400, "create x: volume name is too short"),
    ({"Name": "-lead"}, 400, 'create -lead: "-lead" includes invalid characters for a local volume name'),
    ({"Name": "../up"}, 400, "includes invalid characters for a local volume name"),
    ({"Name": "a/b"}, 400, "includes invalid characters for a local volume name"),
    ({"Name": "v" * 300}, 400, "volume name is too long"),
    ({"Name": "okname", "Driver": "this-plugin-does-not-exist"}, 404,
     'create okname: error looking up volume plugin this-plugin-does-not-exist: plugin '
     '"this-plugin-does-not-exist" not found'),
    ({"Name": "okname", "DriverOpts": {"color": "red"}}, 400, 'create okname: invalid option: "color"'),
    ({"Name": "okname", "DriverOpts": {"type": "tmpfs"}}, 400, 'missing required option: "device"'),
    ({"Name": "okname", "DriverOpts": {"o": "size=1m", "device": "tmpfs"}}, 400, 'missing required option: "type"'),
    ({"Name": "okname", "DriverOpts": {"size": "10m"}}, 400, "quota size requested but no quota support"),
    ({"Name": "okname", "DriverOpts": {"size": "lots"}}, 400, "invalid size: 'lots'"),
    ({"Name": 7}, 400, "Name must be a string"),
    ({"Name": "okname", "Labels": {"a": 1}}, 400, "Labels must be an object of strings"),
    ([], 400, "must be a JSON object"),
])
def test_bad_creates_are_refused_in_dockers_words(daemon, body, status, words):
    got, reply = post(daemon, "/v1.45/volumes/create", body)
    assert got == status and words in reply["message"], (got, reply)
    assert not os.path.exists(os.path.join(daemon.data_root, "volumes", "okname"))


def test_list_filters(client, daemon, made):
    tag = unique("f")
    used = volume(client, made, f"{tag}-used", labels={"group": tag, "role": "db"})
    idle = volume(client, made, f"{tag}-idle", labels={"group": tag})
    ctr = client.containers.create("busybox", "true", volumes=[f"{used.name}:/data"])
    made["containers"].append(ctr)

    def names(**filters) -> set[str]:
        return {v["Name"] for v in client.api.volumes(filters=filters)["Volumes"] if v["Name"].startswith(tag)}

    assert names(name=tag) == {used.name, idle.name}
    assert names(name=f"^{tag}-u") == {used.name}   # a regexp, as Docker's Match
    assert names(label=f"group={tag}") == {used.name, idle.name}
    assert names(label="role") == {used.name} and names(label="role=web") == set()
    assert names(driver="local", name=tag) == {used.name, idle.name}
    assert names(driver="other") == set()
    assert names(dangling="true") == {idle.name} and names(dangling="0") == {used.name}
    for wanted, words in (({"dangling": ["maybe"]}, "invalid filter 'dangling=[maybe]'"),
                         ({"until": ["1h"]}, "invalid filter 'until'"),
                         ({"label!": ["x"]}, "invalid filter 'label!'")):
        r = daemon.get(f"/v1.45/volumes?{query(wanted)}")
        assert r.status == 400 and words in r.json()["message"], (wanted, r.body)


def test_a_volume_in_use_is_not_removed(client, daemon, made):
    vol = volume(client, made, unique())
    ctr = client.containers.create("busybox", "true", volumes=[f"{vol.name}:/data"])   # never started
    made["containers"].append(ctr)
    # (docker-py's remove_volume never sends its `force`: raw requests say it.)
    for force in ("0", "1"):
        r = daemon.request("DELETE", f"/v1.45/volumes/{vol.name}?force={force}")
        assert r.status == 409, r.body
        assert r.json()["message"] == f"remove {vol.name}: volume is in use - [{ctr.id}]", r.body
    ctr.remove()
    client.api.remove_volume(vol.name)
    with pytest.raises(docker.errors.NotFound) as exc:
        client.api.remove_volume(vol.name)
    assert f"get {vol.name}: no such volume" in str(exc.value.explanation)
    r = daemon.request("DELETE", f"/v1.45/volumes/{vol.name}?force=1")
    assert r.status == 204, r.body   # force: one that is not there is no error


def test_prune(client, daemon, made):
    tag = unique("p")
    named = volume(client, made, f"{tag}-named", labels={"p": tag})
    anonymous = client.api.create_volume(labels={"p": tag})["Name"]
    made["volumes"].append(anonymous)
    kept = client.api.create_volume(labels={"p": tag, "keep": "1"})["Name"]
    made["volumes"].append(kept)
    used = volume(client, made, f"{tag}-used", labels={"p": tag})
    made["containers"].append(client.containers.create("busybox", "true", volumes=[f"{used.name}:/d"]))
    with open(os.path.join(daemon.data_root, "volumes", anonymous, "_data", "blob"), "wb") as fh:
        fh.write(b"x" * 65536)
    # Anonymous volumes only (API 1.42 and up), with the labels asked for, not in use.
    result = client.api.prune_volumes(filters={"label": f"p={tag}", "label!": "keep"})
    assert result["VolumesDeleted"] == [anonymous] and result["SpaceReclaimed"] >= 65536, result
    assert not os.path.exists(os.path.join(daemon.data_root, "volumes", anonymous))
    assert client.volumes.get(named.name) and client.volumes.get(kept)
    # all=true takes named ones too; an older API version does without being asked.
    result = client.api.prune_volumes(filters={"label": f"p={tag}", "label!": "keep", "all": "true"})
    assert result == {"VolumesDeleted": [named.name], "SpaceReclaimed": 0}, result
    status, body = post(daemon, f"/v1.41/volumes/prune?{query({'label': [f'p={tag}']})}", None)
    assert status == 200 and body["VolumesDeleted"] == [kept], body
    assert client.volumes.get(used.name)   # in use: never pruned
    r = daemon.request("POST", f"/v1.45/volumes/prune?{query({'all': ['maybe']})}")
    assert r.status == 400 and "invalid filter 'all'" in r.json()["message"], r.body


# ------------------------------------------------------------------ in containers


def test_a_volume_shared_by_two_containers(client, made):
    vol = volume(client, made, unique())
    first = running(client, made, volumes=[f"{vol.name}:/shared"])
    second = running(client, made, volumes=[f"{vol.name}:/also:ro"])
    assert sh(first, "echo from-first > /shared/note") == (0, "")
    assert sh(second, "cat /also/note") == (0, "from-first\n")
    code, out = sh(second, "touch /also/x")
    assert code != 0 and "Read-only file system" in out, out
    # Volumes outlive their containers: a new one finds what was written.
    out = client.containers.run("busybox", ["cat", "/v/note"], volumes=[f"{vol.name}:/v"], remove=True)
    assert out == b"from-first\n"


def test_a_tmpfs_backed_volume_is_mounted_while_used(client, daemon, made):
    vol = volume(client, made, unique(), driver="local", driver_opts=TMPFS)
    assert vol.attrs["Options"] == TMPFS
    data = vol.attrs["Mountpoint"]
    assert not mounted(data)
    first = running(client, made, volumes=[f"{vol.name}:/cache"])
    assert mounted(data)
    code, out = sh(first, "grep ' /cache ' /proc/mounts; echo kept > /cache/f")
    assert code == 0 and out.startswith("tmpfs /cache tmpfs") and "size=2048k" in out, out
    second = running(client, made, mounts=[Mount("/c", vol.name)])
    assert sh(second, "cat /c/f") == (0, "kept\n")
    assert os.path.exists(os.path.join(data, "f"))   # the host's view is the same tmpfs
    first.stop(timeout=1)
    assert mounted(data)   # the second still uses it
    second.stop(timeout=1)
    until(lambda: not mounted(data), 10, "the volume's tmpfs to be unmounted after its last user stopped")
    assert not os.path.exists(os.path.join(data, "f"))
    # It is mounted again (empty: a tmpfs) at the next start, and it is never pruned.
    second.start()
    assert mounted(data) and sh(second, "ls /c") == (0, "")
    second.stop(timeout=1)
    until(lambda: not mounted(data), 10, "the volume's tmpfs to be unmounted again")
    for ctr in (first, second):
        ctr.remove()
    made["containers"].clear()
    assert vol.name not in client.api.prune_volumes(filters={"all": "true"})["VolumesDeleted"]


def test_two_containers_starting_at_once_mount_a_volume_once(client, made):
    vol = volume(client, made, unique(), driver_opts=TMPFS)
    data = vol.attrs["Mountpoint"]
    ctrs = [client.containers.create("busybox", ["top"], volumes=[f"{vol.name}:/v"]) for _ in range(2)]
    made["containers"].extend(ctrs)
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda c: c.start(), ctrs))
        with open("/proc/self/mountinfo") as fh:
            assert [line.split()[4] for line in fh].count(data) == 1   # one tmpfs, not one each
        assert sh(ctrs[0], "echo one > /v/f") == (0, "") and sh(ctrs[1], "cat /v/f") == (0, "one\n")
        list(pool.map(lambda c: c.stop(timeout=1), ctrs))
    until(lambda: not mounted(data), 10, "the volume to be unmounted once both stopped")


def test_a_bind_backed_volume_shows_a_host_directory_and_removing_it_keeps_the_files(client, made, tmp_path):
    (tmp_path / "from-host").write_text("host\n")
    vol = volume(client, made, unique(), driver_opts={"type": "none", "o": "bind", "device": str(tmp_path)})
    ctr = running(client, made, volumes=[f"{vol.name}:/srv"])
    assert sh(ctr, "cat /srv/from-host && echo back > /srv/from-container") == (0, "host\n")
    assert (tmp_path / "from-container").read_text() == "back\n"
    ctr.remove(force=True)
    made["containers"].clear()
    until(lambda: not mounted(vol.attrs["Mountpoint"]), 10, "the bind to be unmounted once its user is gone")
    vol.remove()
    assert sorted(os.listdir(tmp_path)) == ["from-container", "from-host"]


def test_a_volume_that_cannot_be_mounted_fails_the_start_and_leaves_nothing(client, made, tmp_path):
    missing = str(tmp_path / "missing")
    vol = volume(client, made, unique(), driver_opts={"type": "none", "o": "bind", "device": missing})
    ctr = client.containers.create("busybox", "true", volumes=[f"{vol.name}:/srv"])
    made["containers"].append(ctr)
    with pytest.raises(docker.errors.APIError) as exc:
        ctr.start()
    words = str(exc.value.explanation)
    assert exc.value.status_code == 500, words
    assert f"error while mounting volume '{vol.attrs['Mountpoint']}': failed to mount local volume: " \
           f"mount {missing}:{vol.attrs['Mountpoint']}, flags: 0x1000: no such file or directory" in words, words
    ctr.reload()
    assert ctr.status == "created" and not mounted(vol.attrs["Mountpoint"])


def test_a_mounts_entry_makes_its_volume_with_driver_options_and_labels(client, made):
    name = unique()
    made["volumes"].append(name)
    mount = Mount("/m", name, driver_config=DriverConfig("local", TMPFS), labels={"made-by": "mount"})
    ctr = running(client, made, mounts=[mount])
    assert sh(ctr, "grep ' /m ' /proc/mounts")[1].startswith("tmpfs /m tmpfs")
    attrs = client.api.inspect_volume(name)
    assert attrs["Options"] == TMPFS and attrs["Labels"] == {"made-by": "mount"}, attrs


def test_rm_v_keeps_an_anonymous_volume_another_container_uses(client, made):
    owner = client.containers.create("busybox", "true", volumes=["/data"])
    made["containers"].append(owner)
    anonymous = owner.attrs["Mounts"][0]["Name"]
    assert client.api.inspect_volume(anonymous)["Labels"] == {ANONYMOUS: ""}
    borrower = client.containers.create("busybox", "true", volumes_from=[owner.id])
    made["containers"].append(borrower)
    owner.remove(v=True)
    assert client.api.inspect_volume(anonymous)   # the borrower still uses it
    borrower.remove(v=True)
    with pytest.raises(docker.errors.NotFound):
        client.api.inspect_volume(anonymous)
    made["containers"].clear()


# ------------------------------------------------------------------ the CLI


def test_the_docker_cli(client, daemon, made):
    name = unique()
    made["volumes"].append(name)
    out = cli(daemon, "volume", "create", "--label", "cli=yes", "-o", "type=tmpfs", "-o", "device=tmpfs",
              "-o", "o=size=1m", name)
    assert out.returncode == 0 and out.stdout.decode().strip() == name, out
    out = cli(daemon, "volume", "ls", "-q", "--filter", "label=cli=yes")
    assert out.returncode == 0 and name in out.stdout.decode().split(), out
    out = cli(daemon, "volume", "inspect", "--format", "{{.Driver}} {{.Options.type}} {{.Labels.cli}}", name)
    assert out.stdout.decode().strip() == "local tmpfs yes", out
    out = cli(daemon, "run", "-d", "-v", f"{name}:/v", "busybox", "top")
    assert out.returncode == 0, out
    made["containers"].append(client.containers.get(out.stdout.decode().strip()))
    out = cli(daemon, "volume", "rm", name)
    assert out.returncode != 0 and b"volume is in use" in out.stderr, out
    out = cli(daemon, "volume", "rm", "no-such-volume-here")
    assert out.returncode != 0 and b"no such volume" in out.stderr, out
    # The prunes are held to this test's volumes by a label: others' are not this test's to take.
    mark = f"cli-prune={unique()}"
    anonymous = client.api.create_volume(labels=dict([mark.split("=")]))["Name"]
    made["volumes"].append(anonymous)
    named = volume(client, made, unique(), labels=dict([mark.split("=")])).name
    out = cli(daemon, "volume", "prune", "-f", "--filter", f"label={mark}")
    assert out.returncode == 0 and anonymous in out.stdout.decode() and named not in out.stdout.decode(), out
    out = cli(daemon, "volume", "prune", "-a", "-f", "--filter", f"label={mark}")
    assert out.returncode == 0 and named in out.stdout.decode(), out
    assert name in [v.name for v in client.volumes.list()]


# ------------------------------------------------------------------ restarts


def test_volumes_and_their_mounts_outlive_a_supervisor_restart(client, daemon, made):
    name = unique()
    vol = volume(client, made, name, labels={"kept": "yes"}, driver_opts=TMPFS)
    before = client.api.inspect_volume(name)
    ctr = running(client, made, volumes=[f"{name}:/v"])
    assert sh(ctr, "echo still > /v/f") == (0, "")
    old = daemon.pid("supervisor")
    daemon.supervisorctl("restart", "supervisor")
    daemon.wait_new_pid("supervisor", old)
    daemon.wait_ready()
    assert client.api.inspect_volume(name) == before
    assert mounted(vol.attrs["Mountpoint"]) and sh(ctr, "cat /v/f") == (0, "still\n")
    # Its last user ends while no supervisor runs: the next one unmounts it.
    ctr.reload()
    pid = ctr.attrs["State"]["Pid"]
    assert pid > 0, ctr.attrs["State"]   # (a kill of 0 would be one of this test's own group)
    daemon.supervisorctl("stop", "supervisor")
    try:
        os.kill(pid, signal.SIGKILL)
        until(lambda: not os.path.exists(f"/proc/{pid}"), 10, "the container to end")
    finally:
        daemon.supervisorctl("start", "supervisor")
    daemon.wait_ready()
    until(lambda: not mounted(vol.attrs["Mountpoint"]), 20, "the new supervisor to unmount the unused volume")
    until(lambda: client.containers.get(ctr.id).status == "exited", 20, "the exit to be recorded")
    assert client.api.inspect_volume(name) == before
