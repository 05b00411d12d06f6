"""The v1.0 system endpoints (spec 2.3) and their modern forms, against the started daemon."""

from __future__ import annotations

import base64
import json
import os
import platform
import stat
import subprocess
import urllib.parse

import docker

from ..polling import until
from .containers import create, ensure_busybox, start
from .daemon import SERVICES, WIRE_SERVICES, UnixHTTPConnection


def host_memory_limit() -> bool:
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return "memory" in open("/sys/fs/cgroup/cgroup.controllers").read().split()
    return os.path.exists("/sys/fs/cgroup/memory/memory.limit_in_bytes")


def host_swap_limit() -> bool:
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return any(os.path.exists(os.path.join(e.path, "memory.swap.max"))
                   for e in os.scandir("/sys/fs/cgroup") if e.is_dir())
    return os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")


def test_ping(daemon):
    for path in ("/_ping", "/v1.45/_ping", "/v1.24/_ping"):
        r = daemon.get(path)
        assert r.status == 200 and r.body == b"OK"
        assert r.headers["API-Version"] == "1.45"
    r = daemon.request("HEAD", "/_ping")
    assert r.status == 200 and r.body == b""


def test_version_v1_0_shape(daemon):
    r = daemon.get("/version")
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.headers["API-Version"] == "1.45" and r.headers["Server"].startswith("Dockyard/")
    v = r.json()
    for key in ("Version", "GitCommit", "GoVersion"):
        assert isinstance(v[key], str) and v[key], key
    assert v["ApiVersion"] == "1.45" and v["MinAPIVersion"] == "1.24"
    assert v["Os"] == "linux" and v["KernelVersion"] == platform.release()
    assert daemon.get("/v1.0/version").json() == v


def test_info_v1_0_shape(daemon):
    r = daemon.get("/info")
    assert r.status == 200
    info = r.json()
    assert {"Containers", "Images", "Debug", "NFd", "NGoroutines", "MemoryLimit", "SwapLimit"} <= set(info)
    assert info["Containers"] == 0
    assert info["Images"] == len(daemon.get("/v1.45/images/json?all=1").json())
    assert info["Debug"] is False
    assert info["MemoryLimit"] is host_memory_limit()
    assert info["SwapLimit"] is host_swap_limit()
    # NFd is the daemon's open descriptors, summed over its service processes.
    fds = sum(len(os.listdir(f"/proc/{daemon.pid(s)}/fd")) for s in SERVICES)
    assert abs(info["NFd"] - fds) <= 4 * len(SERVICES)
    assert info["NGoroutines"] >= len(SERVICES)


def test_modern_shapes(daemon):
    v = daemon.get("/v1.45/version").json()
    assert v["Components"][0]["Name"] == "Engine" and v["ApiVersion"] == "1.45"
    info = daemon.get("/v1.45/info").json()
    for key in ("ID", "ContainersRunning", "Driver", "DockerRootDir", "NCPU", "MemTotal",
                "OperatingSystem", "ServerVersion", "CgroupVersion", "KernelVersion"):
        assert key in info, key
    assert info["DockerRootDir"] == daemon.data_root
    assert info["NCPU"] == os.cpu_count()
    assert daemon.get("/v1.41/info").status == 200


def test_unknown_route_and_bad_versions(daemon):
    r = daemon.get("/no/such/thing")
    assert r.status == 404 and r.json() == {"message": "page not found"}
    for version in ("1.12", "1.46", "3.0"):
        r = daemon.get(f"/v{version}/version")
        assert r.status == 400 and "1.24 to 1.45" in r.json()["message"]


def test_tcp_listener_and_socket_mode(daemon):
    r = daemon.tcp_request("GET", "/version")
    assert r.status == 200 and "Version" in r.json()
    mode = os.stat(daemon.sock).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o660
    assert stat.S_IMODE(os.stat(daemon.data_root).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(daemon.exec_root, "sock")).st_mode) == 0o700


def test_services_are_named_processes(daemon):
    for service in SERVICES:
        with open(f"/proc/{daemon.pid(service)}/cmdline", "rb") as fh:
            assert fh.read().split(b"\0")[0].decode().startswith(f"dockyard-{service}")


def test_service_sockets_are_files_not_abstract_or_tcp(daemon):
    with open("/proc/net/unix") as fh:
        paths = [line.split()[-1] for line in fh if len(line.split()) > 7]
    assert not [p for p in paths if p.startswith("@") and "dockyard" in p]
    for service in WIRE_SERVICES:
        assert stat.S_ISSOCK(os.stat(os.path.join(daemon.exec_root, "sock", f"{service}.sock")).st_mode)


def docker_cli(daemon, *args: str, tmp_path) -> subprocess.CompletedProcess:
    env = dict(os.environ, DOCKER_CONFIG=str(tmp_path), DOCKER_HOST=daemon.unix_url)
    env.pop("DOCKER_CONTEXT", None)
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60, env=env)


def test_docker_cli_version(daemon, tmp_path):
    out = docker_cli(daemon, "version", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Dockyard Engine" in out.stdout and "0.1.0" in out.stdout
    assert "Error" not in out.stdout + out.stderr


def test_docker_cli_info(daemon, tmp_path):
    out = docker_cli(daemon, "info", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Server Version: 0.1.0" in out.stdout
    assert f"Docker Root Dir: {daemon.data_root}" in out.stdout
    assert "ERROR" not in out.stderr.upper().replace("WARNING", "")


def test_docker_py_negotiates(daemon):
    client = docker.APIClient(base_url=daemon.unix_url, version="auto")
    assert client.api_version == "1.45"
    assert client.version()["Version"] == "0.1.0"
    assert client.info()["Images"] == len(client.images(all=True))
    high = docker.DockerClient(base_url=daemon.unix_url, version="auto")
    assert high.ping() is True


def test_a_16_kib_registry_auth_header_is_taken(daemon):
    # docker login with a long identity token sends one this size; aiohttp's default took 8 KiB.
    auth = base64.urlsafe_b64encode(json.dumps({"username": "u", "password": "p" * 12000}).encode()).decode()
    assert len(auth) > 16000
    r = daemon.get("/v1.45/images/json", headers={"X-Registry-Auth": auth})
    assert r.status == 200, r.body


def test_an_over_long_header_is_refused_in_dockers_json_shape(daemon):
    r = daemon.get("/v1.45/version", headers={"X-Too-Long": "x" * (70 << 10)})
    assert r.status == 431
    assert r.headers["Content-Type"] == "application/json"
    assert "header" in r.json()["message"]
    assert daemon.get("/_ping").status == 200


def test_errors_are_json_as_dockerd_types_it(daemon):
    r = daemon.get("/v1.45/containers/no-such/json")
    assert r.status == 404 and r.headers["Content-Type"] == "application/json"


def test_a_client_that_hangs_up_leaves_no_traceback_and_no_waiting_work(daemon):
    ensure_busybox(daemon)
    cid = create(daemon, Cmd=["sleep", "1000"])
    start(daemon, cid)
    logged = os.path.getsize(daemon.log_path)
    busy = lambda: daemon.get("/info").json()["NGoroutines"]  # noqa: E731 - tasks of every service
    idle = busy()
    for _ in range(5):
        conn = UnixHTTPConnection(daemon.sock, timeout=10)
        conn.request("POST", f"/v1.45/containers/{cid}/wait")
        assert conn.getresponse().status == 200  # the head: the wait is under way
        conn.close()
    # The waits end at the api and at the supervisor with their clients.
    until(lambda: busy() <= idle, 20, "the waits of clients that hung up to end")
    daemon.request("POST", f"/containers/{cid}/kill")
    with open(daemon.log_path, "rb") as fh:
        fh.seek(logged)
        assert b"Traceback" not in fh.read()


def test_deeply_nested_json_in_a_query_or_a_header_is_a_400(daemon):
    deep = "[" * 15000  # far past Python's recursion limit, within the header limit
    r = daemon.get("/v1.45/containers/json?filters=" + urllib.parse.quote(deep))
    assert r.status == 400 and "invalid filter" in r.json()["message"], r.body
    auth = base64.urlsafe_b64encode(deep.encode()).decode()
    r = daemon.request("POST", "/v1.45/images/create?fromImage=127.0.0.1:1/x&tag=1",
                       headers={"X-Registry-Auth": auth[:60000]})
    assert r.status == 400 and "X-Registry-Auth" in r.json()["message"], r.body
