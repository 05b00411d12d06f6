"""docker top and docker stats on the started daemon, with docker-py and the docker CLI."""

from __future__ import annotations

import docker
import pytest

from ..polling import until
from .containers import docker as docker_cli

BUSYBOX = "busybox:latest"


@pytest.fixture
def running(client):
    ctr = client.containers.run(BUSYBOX, ["sleep", "300"], detach=True)
    yield ctr
    ctr.remove(force=True)


def _commands(top: dict) -> list[str]:
    return [row[-1] for row in top["Processes"]]


def test_top_lists_the_containers_processes(running):
    top = until(lambda: running.top(), what="top")
    assert top["Titles"][-1] == "CMD" and "PID" in top["Titles"]
    assert _commands(top) == ["sleep 300"]
    pid = running.client.api.inspect_container(running.id)["State"]["Pid"]
    assert top["Processes"][0][top["Titles"].index("PID")] == str(pid)
    aux = running.top(ps_args="aux")
    assert aux["Titles"][1] == "PID" and _commands(aux) == ["sleep 300"]


def test_top_with_bad_ps_args_is_a_client_error(running):
    with pytest.raises(docker.errors.APIError) as info:
        running.top(ps_args="-zzz")
    assert info.value.status_code == 400 and "ps: " in str(info.value)


def test_top_of_a_stopped_container_is_a_conflict(client):
    ctr = client.containers.create(BUSYBOX, ["true"])
    try:
        with pytest.raises(docker.errors.APIError) as info:
            ctr.top()
        assert info.value.status_code == 409
        assert f"Container {ctr.id} is not running" in str(info.value)
    finally:
        ctr.remove(force=True)


def test_stats_one_sample(running):
    s = running.stats(stream=False)
    assert s["id"] == running.id and s["name"] == "/" + running.name
    assert s["cpu_stats"]["cpu_usage"]["total_usage"] > 0
    assert s["cpu_stats"]["system_cpu_usage"] > s["precpu_stats"]["system_cpu_usage"] > 0
    assert s["memory_stats"]["usage"] > 0 and s["memory_stats"]["limit"] > 0
    assert s["pids_stats"]["current"] >= 1
    assert "eth0" in s["networks"] and "rx_bytes" in s["networks"]["eth0"]
    one = running.stats(stream=False, one_shot=True)
    assert one["precpu_stats"]["cpu_usage"]["total_usage"] == 0 and one["preread"] == "0001-01-01T00:00:00Z"


def test_stats_stream(running):
    stream = running.stats(stream=True, decode=True)
    try:
        first, second = next(stream), next(stream)
    finally:
        stream.close()
    assert first["read"] != second["read"]
    assert second["preread"] == first["read"]
    assert second["precpu_stats"]["cpu_usage"] == first["cpu_stats"]["cpu_usage"]


def test_stats_of_a_stopped_container_is_zeros(client):
    ctr = client.containers.create(BUSYBOX, ["true"])
    try:
        s = ctr.stats(stream=False)
        assert s["id"] == ctr.id and s["read"] == "0001-01-01T00:00:00Z"
        assert s["cpu_stats"]["cpu_usage"]["total_usage"] == 0
        # The stream too: that one object, then the end.
        assert [o["id"] for o in ctr.stats(stream=True, decode=True)] == [ctr.id]
    finally:
        ctr.remove(force=True)


def test_docker_stats_cli(daemon, running):
    result = docker_cli(daemon, "stats", "--no-stream", running.name, timeout=30)
    assert result.returncode == 0, result.stderr
    assert running.name in result.stdout.decode()
    result = docker_cli(daemon, "top", running.name, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "sleep 300" in result.stdout.decode()
