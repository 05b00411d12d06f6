"""Many clients at once, as on a CI host: every one gets a definite answer, the store stays one."""

from __future__ import annotations

import concurrent.futures
import json
import os

import docker
import pytest

from .containers import ensure_busybox
from .registries import running_registry


@pytest.fixture(scope="module")
def client(daemon):
    ensure_busybox(daemon)
    c = docker.DockerClient(base_url=daemon.unix_url, version="1.45", max_pool_size=64)
    yield c
    c.close()


def _fds(daemon) -> int:
    return daemon.get("/info").json()["NFd"]


def test_same_name_created_at_once_is_one_201_and_the_rest_409(daemon, client):
    def create(_):
        r = daemon.request("POST", "/v1.45/containers/create?name=racer",
                           body=json.dumps({"Image": "busybox", "Cmd": ["true"]}).encode(),
                           headers={"Content-Type": "application/json"})
        return r.status
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(create, range(20)))
    assert sorted(statuses) == [201] + [409] * 19
    assert [c.name for c in client.containers.list(all=True, filters={"name": "racer"})] == ["racer"]
    client.containers.get("racer").remove()


def test_fifty_runs_at_once_all_answer_and_leave_nothing(daemon, client):
    def run(n):
        if n % 2:
            return client.containers.run("busybox", ["echo", str(n)], remove=True)
        # Attached while it runs, as the docker CLI does: through a connection to its shim.
        ctr = client.containers.run("busybox", ["sh", "-c", f"sleep 0.3; echo {n}"], detach=True)
        r = daemon.request("POST", f"/v1.45/containers/{ctr.id}/attach?logs=1&stream=1&stdout=1")
        ctr.remove(force=True)
        return r.body[8:] or (r.status, r.body, dict(r.headers))  # one frame: its 8-byte header, then the line
    before = {c.id for c in client.containers.list(all=True)}
    fds = []
    for _ in range(4):
        with concurrent.futures.ThreadPoolExecutor(50) as pool:
            outputs = list(pool.map(run, range(50)))
        assert outputs == [f"{n}\n".encode() for n in range(50)]
        fds.append(_fds(daemon))
    assert {c.id for c in client.containers.list(all=True)} <= before
    # The first rounds open the client's pooled connections (up to one a thread); after
    # that, 100 more containers may not cost the daemon an fd each (a leak of one fd a
    # container would show 100 here).
    assert fds[3] - fds[1] < 25, fds


def test_one_image_pulled_ten_times_at_once(daemon, client):
    with running_registry() as host:
        image = client.images.get("busybox")
        image.tag(f"{host}/many/pull", "1")
        client.images.push(f"{host}/many/pull", "1")
        client.images.remove(f"{host}/many/pull:1")
        layers_before = set(os.listdir(os.path.join(daemon.data_root, "layers")))

        def pull(_):
            return client.images.pull(f"{host}/many/pull", tag="1").id
        with concurrent.futures.ThreadPoolExecutor(10) as pool:
            ids = set(pool.map(pull, range(10)))
        assert ids == {image.id}
        assert set(os.listdir(os.path.join(daemon.data_root, "layers"))) == layers_before
        assert client.images.get(f"{host}/many/pull:1").id == image.id
        client.images.remove(f"{host}/many/pull:1")
    for service in os.listdir(os.path.join(daemon.data_root, "tmp")):
        assert os.listdir(os.path.join(daemon.data_root, "tmp", service)) == [], service
