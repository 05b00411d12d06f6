"""GET /system/df, GET /info's modern keys and /_ping's headers, as Docker answers them,
against the started daemon (and the docker CLI and docker-py on it)."""

from __future__ import annotations

import json
import socket

import docker

from .builds import ok_build
from .containers import create, docker as docker_cli, ensure_busybox, remove, start, wait

PAYLOAD_OWN, PAYLOAD_VOLUME = 50_000, 30_000   # bytes a container writes in its layer and in a volume


def _volume(daemon, name: str) -> None:
    r = daemon.request("POST", "/v1.45/volumes/create", body=json.dumps({"Name": name}).encode(),
                       headers={"Content-Type": "application/json"})
    assert r.status == 201, r.body


def _df(daemon, query: str = "", prefix: str = "/v1.45"):
    return daemon.get(f"{prefix}/system/df{query}")


def test_df_counts_a_container_an_image_a_volume_and_a_build_cache_entry(daemon):
    ensure_busybox(daemon)
    ok_build(daemon, "FROM busybox\nRUN echo cached > /cached\n", query="t=dfbuilt:one")
    image = daemon.get("/v1.45/images/busybox:latest/json").json()["Id"]
    built = daemon.get("/v1.45/images/dfbuilt:one/json").json()["Id"]
    _volume(daemon, "dfvol")
    cid = create(daemon, name="dfctr", Cmd=["sh", "-c", f"head -c {PAYLOAD_OWN} /dev/zero > /own && "
                                                     f"head -c {PAYLOAD_VOLUME} /dev/zero > /data/v"],
                 HostConfig={"Binds": ["dfvol:/data"]})
    try:
        start(daemon, cid)
        assert wait(daemon, cid) == 0
        r = _df(daemon)
        assert r.status == 200, r.body
        df = r.json()
        assert set(df) >= {"LayersSize", "Images", "Containers", "Volumes", "BuildCache"}
        assert df["LayersSize"] > 0

        images = {i["Id"]: i for i in df["Images"]}
        assert images[image]["Containers"] >= 1 and images[image]["Size"] > 0
        assert {"SharedSize", "Size", "Containers"} <= set(images[built])
        # the built image is busybox's layers and one more: busybox's are shared with it
        assert images[built]["SharedSize"] >= images[image]["Size"]

        ctr = next(c for c in df["Containers"] if c["Id"].startswith(cid))
        assert PAYLOAD_OWN <= ctr["SizeRw"] < PAYLOAD_OWN + 8192   # its own file, not the volume's
        assert ctr["SizeRootFs"] == images[image]["Size"] + ctr["SizeRw"]
        assert ctr["Names"] == ["/dfctr"]

        vol = next(v for v in df["Volumes"] if v["Name"] == "dfvol")
        assert vol["UsageData"] == {"Size": PAYLOAD_VOLUME, "RefCount": 1}
        assert vol["Driver"] == "local" and vol["Mountpoint"].endswith("/volumes/dfvol/_data")

        cache = df["BuildCache"]
        assert any("echo cached" in e["Description"] for e in cache), cache
        for entry in cache:
            assert {"ID", "Parents", "Type", "Description", "InUse", "Shared", "Size", "CreatedAt",
                    "LastUsedAt", "UsageCount"} <= set(entry)
    finally:
        remove(daemon, cid)
    r = _df(daemon, "?type=volume")
    vol = next(v for v in r.json()["Volumes"] if v["Name"] == "dfvol")
    assert vol["UsageData"]["RefCount"] == 0   # its container is gone
    assert daemon.request("DELETE", "/v1.45/volumes/dfvol").status == 204
    assert daemon.request("DELETE", "/v1.45/images/dfbuilt:one").status == 200


def test_df_type_limits_what_is_computed(daemon):
    ensure_busybox(daemon)
    only_volumes = _df(daemon, "?type=volume").json()
    assert only_volumes["Images"] is None and only_volumes["Containers"] is None
    assert only_volumes["BuildCache"] is None and only_volumes["LayersSize"] == 0
    assert isinstance(only_volumes["Volumes"], list)

    two = _df(daemon, "?type=image&type=build-cache").json()
    assert two["Images"] and two["LayersSize"] > 0 and isinstance(two["BuildCache"], list)
    assert two["Containers"] is None and two["Volumes"] is None

    containers = _df(daemon, "?type=container").json()
    assert isinstance(containers["Containers"], list) and containers["Images"] is None

    bad = _df(daemon, "?type=network")
    assert bad.status == 400 and bad.json()["message"] == "unknown object type: network"

    # before API 1.42 `type` is no parameter: everything is computed
    old = _df(daemon, "?type=volume", prefix="/v1.41").json()
    assert old["Images"] and isinstance(old["Containers"], list)
    assert all("Parent" in e and "Parents" not in e for e in old["BuildCache"])
    assert _df(daemon, prefix="").status == 200
    assert _df(daemon, prefix="/v1.24").status == 400   # API 1.25 and up


def test_docker_system_df_and_verbose(daemon):
    ensure_busybox(daemon)
    _volume(daemon, "dfclivol")
    cid = create(daemon, name="dfclictr", Cmd=["true"], HostConfig={"Binds": ["dfclivol:/data"]})
    try:
        out = docker_cli(daemon, "system", "df")
        assert out.returncode == 0, out.stderr
        text = out.stdout.decode()
        for kind in ("Images", "Containers", "Local Volumes", "Build Cache"):
            assert kind in text, text
        verbose = docker_cli(daemon, "system", "df", "-v")
        assert verbose.returncode == 0, verbose.stderr
        text = verbose.stdout.decode()
        assert "dfclivol" in text and "dfclictr" in text and "busybox" in text, text
    finally:
        remove(daemon, cid)
        daemon.request("DELETE", "/v1.45/volumes/dfclivol")


def test_ps_size_fills_size_rw_and_size_root_fs_only_when_asked(daemon):
    ensure_busybox(daemon)
    image_size = daemon.get("/v1.45/images/busybox:latest/json").json()["Size"]
    cid = create(daemon, name="pssizectr", Cmd=["sh", "-c", f"head -c {PAYLOAD_OWN} /dev/zero > /own"])
    try:
        start(daemon, cid)
        assert wait(daemon, cid) == 0
        row = next(c for c in daemon.get("/v1.45/containers/json?all=1&size=1").json() if c["Id"].startswith(cid))
        assert PAYLOAD_OWN <= row["SizeRw"] < PAYLOAD_OWN + 8192, row
        assert row["SizeRootFs"] == image_size + row["SizeRw"], row
        df = next(c for c in _df(daemon, "?type=container").json()["Containers"] if c["Id"].startswith(cid))
        assert (df["SizeRw"], df["SizeRootFs"]) == (row["SizeRw"], row["SizeRootFs"])   # one measure
        plain = next(c for c in daemon.get("/v1.45/containers/json?all=1").json() if c["Id"].startswith(cid))
        assert "SizeRw" not in plain and "SizeRootFs" not in plain
        out = docker_cli(daemon, "ps", "-a", "-s", "--filter", "name=pssizectr", "--format", "{{.Size}}")
        assert out.returncode == 0 and "virtual" in out.stdout.decode() and "kB" in out.stdout.decode(), out
        rows = daemon.get("/containers/json?all=1&size=1").json()   # v1.0: no sizes in its shape
        assert rows and all("SizeRw" not in r for r in rows)
    finally:
        remove(daemon, cid)


def test_docker_py_df(daemon):
    ensure_busybox(daemon)
    client = docker.APIClient(base_url=daemon.unix_url, version="1.45")
    data = client.df()
    assert {"LayersSize", "Containers", "Volumes", "Images", "BuildCache"} <= set(data)
    assert any("busybox:latest" in (i["RepoTags"] or []) for i in data["Images"])


def test_info_counts_and_modern_keys(daemon):
    ensure_busybox(daemon)
    running = create(daemon, Cmd=["tail", "-f", "/dev/null"])
    stopped = create(daemon, Cmd=["true"])
    try:
        start(daemon, running)
        info = daemon.get("/v1.45/info").json()
        listed = daemon.get("/v1.45/containers/json?all=1").json()
        states = [c["State"] for c in listed]
        assert info["Containers"] == len(listed)
        assert info["ContainersRunning"] == states.count("running") >= 1
        assert info["ContainersPaused"] == states.count("paused")
        assert info["ContainersStopped"] == len(listed) - info["ContainersRunning"] - info["ContainersPaused"] >= 1
        assert info["Images"] == len(daemon.get("/v1.45/images/json?all=1").json())
    finally:
        remove(daemon, running)
        remove(daemon, stopped)
    assert info["Plugins"]["Volume"] == ["local"]
    assert info["Plugins"]["Network"] == ["bridge", "host", "null"]
    assert info["Plugins"]["Log"] == ["json-file", "local"]
    assert info["Name"] == socket.gethostname()
    assert info["ServerVersion"] == daemon.get("/v1.45/version").json()["Version"]
    assert info["DockerRootDir"] == daemon.data_root
    assert info["LoggingDriver"] == "json-file" and info["CgroupDriver"] == "cgroupfs"
    assert info["CgroupVersion"] in ("1", "2") and info["KernelVersion"] and info["OperatingSystem"]
    assert info["MemTotal"] > 0 and info["NCPU"] >= 1
    assert dict(info["DriverStatus"])["Supports d_type"] == "true"
    assert dict(info["DriverStatus"])["Backing Filesystem"]
    assert info["DefaultRuntime"] in info["Runtimes"] and "runc" in info["Runtimes"]
    assert any(o.startswith("name=seccomp") for o in info["SecurityOptions"])
    assert info["Swarm"]["LocalNodeState"] == "inactive" and info["Swarm"]["NodeID"] == ""
    assert "127.0.0.0/8" in info["RegistryConfig"]["InsecureRegistryCIDRs"]


def test_info_id_is_stable_across_a_restart(fresh_daemon):
    d = fresh_daemon.start()
    r = d.get("/v1.45/info")
    assert r.status == 200, r.body
    first = r.json()["ID"]
    assert first and d.get("/v1.24/info").json()["ID"] == first
    assert d.stop() == 0
    d.start()
    assert d.get("/v1.45/info").json()["ID"] == first


def test_ping_headers(daemon):
    for method in ("GET", "HEAD"):
        for path in ("/_ping", "/v1.45/_ping", "/v1.24/_ping"):
            r = daemon.request(method, path)
            assert r.status == 200, (method, path)
            assert r.body == (b"OK" if method == "GET" else b"")
            h = r.headers
            assert h["API-Version"] == "1.45"
            assert h["OSType"] == "linux"
            assert h["Builder-Version"] == "1"
            assert h["Docker-Experimental"] == "false"
            assert h["Cache-Control"] == "no-cache, no-store, must-revalidate"
            assert h["Pragma"] == "no-cache"
