"""GET /events: Docker's event stream from the supervisor's journal, as the docker CLI and
docker-py read it, across a restart of the api."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.parse

import docker

from ..polling import until
from .containers import docker as docker_cli
from .containers import ensure_busybox
from .daemon import UnixHTTPConnection

BUSYBOX = "busybox:latest"


def _ns_text(ns: int) -> str:
    return f"{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}"


def _of(events: list[dict], cid: str) -> list[dict]:
    return [e for e in events if e.get("Type") == "container" and e["Actor"]["ID"] == cid]


def test_the_cli_lists_a_containers_whole_life_in_order(daemon, client):
    since = time.time()
    made = docker_cli(daemon, "run", "--name", "ev-life", "--label", "team=blue", BUSYBOX, "sh", "-c", "exit 3")
    assert made.returncode == 3, made.stderr
    cid = client.containers.get("ev-life").id
    assert docker_cli(daemon, "rm", "ev-life").returncode == 0
    out = docker_cli(daemon, "events", "--since", f"{since:.9f}", "--until", f"{time.time():.9f}",
                     "--filter", f"container={cid}", "--format", "{{json .}}", timeout=30)
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.decode().splitlines() if line.strip()]
    life = [e for e in events if e["Action"] in ("create", "start", "die", "destroy")]
    assert [e["Action"] for e in life] == ["create", "start", "die", "destroy"]
    for e in events:
        assert e["Type"] == "container" and e["Actor"]["ID"] == cid and e["scope"] == "local"
        assert e["Actor"]["Attributes"]["name"] == "ev-life"
        assert e["Actor"]["Attributes"]["team"] == "blue"
        assert e["Actor"]["Attributes"]["image"] == BUSYBOX
        assert e["status"] == e["Action"] and e["id"] == cid and e["from"] == BUSYBOX
        assert e["time"] == e["timeNano"] // 1_000_000_000
    assert life[2]["Actor"]["Attributes"]["exitCode"] == "3"
    assert [e["timeNano"] for e in events] == sorted(e["timeNano"] for e in events)


def test_docker_py_reads_past_events_with_filters(daemon, client):
    api = client.api
    since = int(time.time())
    ctr = client.containers.run(BUSYBOX, ["tail", "-f", "/dev/null"], detach=True, labels={"ev": "py"})
    ctr.kill(signal="SIGKILL")
    ctr.wait()
    other = client.containers.create(BUSYBOX, ["true"])
    other.remove()
    net = client.networks.create("ev-net")
    net.remove()
    end = int(time.time()) + 1

    def read(**filters) -> list[dict]:
        return list(api.events(decode=True, since=since, until=end, filters=filters or None))

    mine = _of(read(), ctr.id)
    assert [e["Action"] for e in mine] == ["create", "start", "kill", "die"]
    assert mine[2]["Actor"]["Attributes"]["signal"] == "9"
    assert mine[3]["Actor"]["Attributes"]["exitCode"] == "137"
    assert [e["Action"] for e in read(label="ev=py")] == ["create", "start", "kill", "die"]
    assert {e["Actor"]["ID"] for e in read(container=ctr.id[:12])} == {ctr.id}
    assert {e["Actor"]["ID"] for e in read(container=other.name)} == {other.id}
    starts = read(event="start", type="container")
    assert ctr.id in {e["Actor"]["ID"] for e in starts} and {e["Action"] for e in starts} == {"start"}
    nets = read(type="network", network="ev-net")
    assert [e["Action"] for e in nets] == ["create", "destroy"]
    assert nets[0]["Actor"]["Attributes"] == {"name": "ev-net", "type": "bridge"}
    assert "status" not in nets[0]
    ctr.remove()


def test_a_bad_window_or_filter_is_a_400(daemon):
    assert daemon.get("/v1.45/events?since=20&until=10").status == 400
    assert daemon.get("/v1.45/events?since=yesterday").status == 400
    assert daemon.get("/v1.45/events?until=1&filters=" + urllib.parse.quote('{"colour":["red"]}')).status == 400


def test_until_in_the_future_ends_the_stream_once_reached(daemon, client):
    since = time.time_ns()
    ctr = client.containers.create(BUSYBOX, ["true"], name="ev-future")
    end = time.time_ns() + 1_500_000_000
    r = daemon.get(f"/v1.45/events?since={_ns_text(since)}&until={_ns_text(end)}", timeout=20)
    assert r.status == 200 and time.time_ns() >= end   # it waited for `until`, then ended
    lines = [json.loads(line) for line in r.body.decode().splitlines()]
    assert [e["Action"] for e in _of(lines, ctr.id)] == ["create"]
    ctr.remove()


class _Stream:
    """A live GET /events on the daemon's socket, read an event at a time."""

    def __init__(self, daemon, query: str):
        self.conn = UnixHTTPConnection(daemon.sock, timeout=30)
        self.conn.request("GET", "/v1.45/events?" + query)
        self.response = self.conn.getresponse()
        assert self.response.status == 200

    def next(self) -> dict | None:
        line = self.response.readline()
        return json.loads(line) if line.strip() else None

    def close(self) -> None:
        self.conn.close()


def test_a_client_coming_back_with_since_misses_nothing_and_sees_nothing_twice(fresh_daemon):
    daemon = fresh_daemon.start()
    ensure_busybox(daemon)
    client = docker.DockerClient(base_url=daemon.unix_url, version="1.45")
    since = time.time_ns()
    stream = _Stream(daemon, f"since={_ns_text(since)}")
    ctr = client.containers.run(BUSYBOX, ["tail", "-f", "/dev/null"], detach=True)
    seen = []
    while not any(e["Action"] == "start" for e in seen):
        event = stream.next()
        assert event is not None, "the stream ended early"
        seen.append(event)
    pid = client.api.inspect_container(ctr.id)["State"]["Pid"]
    old = daemon.pid("api")
    os.kill(old, signal.SIGKILL)
    assert stream.next() is None   # the api went: the stream ends
    stream.close()
    os.kill(pid, signal.SIGKILL)   # the container dies while no api runs
    daemon.wait_new_pid("api", old)
    until(lambda: client.api.inspect_container(ctr.id)["State"]["Status"] == "exited", 20, "the exit recorded")
    again = _Stream(daemon, f"since={_ns_text(seen[-1]['timeNano'] + 1)}")
    ctr.remove()
    while not any(e["Action"] == "destroy" for e in seen):
        event = again.next()
        assert event is not None, "the stream ended early"
        seen.append(event)
    again.close()
    assert [e["Action"] for e in _of(seen, ctr.id)] == ["create", "start", "die", "destroy"]
    keys = [(e["timeNano"], e["Type"], e["Action"], e["Actor"]["ID"]) for e in seen]
    assert len(keys) == len(set(keys))
    everything = daemon.get(f"/v1.45/events?since={_ns_text(since)}&until={_ns_text(time.time_ns())}")
    assert [json.loads(line) for line in everything.body.decode().splitlines()] == seen
    client.close()


def test_image_events_come_from_the_registry_service(daemon, client):
    since = time.time_ns()
    image = client.images.get(BUSYBOX)
    image.tag("ev-img", "v1")
    client.images.remove("ev-img:v1")
    r = daemon.get(f"/v1.45/events?since={_ns_text(since)}&until={_ns_text(time.time_ns())}"
                   "&filters=" + urllib.parse.quote('{"type":["image"]}'))
    events = [json.loads(line) for line in r.body.decode().splitlines()]
    assert [e["Action"] for e in events] == ["tag", "untag"]
    assert all(e["Actor"]["ID"] == image.id and e["id"] == image.id and e["status"] == e["Action"] for e in events)
    assert "ev-img:v1" in events[0]["Actor"]["Attributes"]["name"]
