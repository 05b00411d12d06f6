"""The events of a container's run (services/supervisor/run_events.py), and the container
events the api records through event.record (services/api/container_events.py)."""

from __future__ import annotations

import asyncio
import copy
import types

import pytest

from services.common import errors
from services.common.events import message
from services.supervisor import events, run_events

from .test_wire import CID, created_container

BRIDGE = {"Id": "b" * 64, "Name": "bridge", "Driver": "bridge"}
BACK = {"Id": "k" * 64, "Name": "back", "Driver": "bridge"}
NONE = {"Id": "n" * 64, "Name": "none", "Driver": "null"}


class Networks:
    def __init__(self, *nets):
        self.nets = nets

    def find(self, ref):
        for net in self.nets:
            if ref in (net["Id"], net["Name"]):
                return net
        raise errors.NotFound(f"network {ref} not found")


class Journal:
    def __init__(self):
        self.events: list[dict] = []

    def emit(self, type_, action, actor, attributes=None):
        self.events.append(message(type_, action, actor, attributes))

    def seen(self) -> list[tuple[str, str]]:
        return [(e["Type"], e["Action"]) for e in self.events]


@pytest.fixture
def journal():
    recorded = Journal()
    events.install(recorded)
    yield recorded
    events.install(None)


def ran(networks: dict, started="2024-05-01T10:00:00.123456789Z", finished="2024-05-01T10:01:05.9Z") -> dict:
    rec = created_container()
    rec["NetworkSettings"] = {"Networks": networks, "Ports": {}, "SandboxID": "", "SandboxKey": ""}
    rec["State"].update(Status="exited", StartedAt=started, FinishedAt=finished, ExitCode=3)
    return rec


def test_exec_duration_is_whole_seconds_of_the_run():
    assert run_events.ran_for(ran({})["State"]) == 65
    assert run_events.ran_for(ran({}, finished="2024-05-01T10:00:00.9Z")["State"]) == 0
    assert run_events.ran_for({"StartedAt": "", "FinishedAt": "2024-05-01T10:00:00Z"}) == 0
    assert run_events.ran_for({"StartedAt": "2024-05-01T10:00:05Z", "FinishedAt": "2024-05-01T10:00:00Z"}) == 0


def test_a_start_connects_each_network_then_starts(journal):
    rec = ran({"bridge": {"NetworkID": BRIDGE["Id"]}, "back": {"NetworkID": ""}, "gone": {"NetworkID": "g" * 64}})
    run_events.started(rec, Networks(BRIDGE, BACK))
    assert journal.seen() == [("network", "connect"), ("network", "connect"), ("container", "start")]
    assert [e["Actor"] for e in journal.events[:2]] == [
        {"ID": BRIDGE["Id"], "Attributes": {"name": "bridge", "type": "bridge", "container": CID}},
        {"ID": BACK["Id"], "Attributes": {"name": "back", "type": "bridge", "container": CID}}]
    assert journal.events[2]["Actor"]["Attributes"] == {"app": "web", "name": "quirky_turing", "image": "busybox"}


def test_an_exit_disconnects_each_network_then_dies_with_its_duration(journal):
    rec = ran({"none": {"NetworkID": NONE["Id"]}})
    run_events.exited(rec, Networks(NONE))
    assert journal.seen() == [("network", "disconnect"), ("container", "die")]
    assert journal.events[0]["Actor"]["Attributes"] == {"name": "none", "type": "null", "container": CID}
    assert journal.events[1]["Actor"]["Attributes"] == {"app": "web", "name": "quirky_turing", "image": "busybox",
                                                        "exitCode": "3", "execDuration": "65"}
    journal.events.clear()
    rec["State"]["OOMKilled"] = True
    rec["NetworkSettings"]["Networks"] = {}   # container:<id>: no network of its own
    run_events.exited(rec, Networks(NONE))
    assert journal.seen() == [("container", "oom"), ("container", "die")]


def test_the_apis_container_events_get_the_containers_attributes(tmp_path):
    class Records:
        def find(self, ref):
            if ref not in (CID, CID[:12], "quirky_turing"):
                raise errors.NotFound(f"No such container: {ref}")
            return copy.deepcopy(created_container())

    room = events.Events(str(tmp_path))
    room.containers = Records()
    events.install(room)

    def record(**params):
        return asyncio.run(room.record(types.SimpleNamespace(params=params)))
    try:
        record(type="container", action="resize", actor="quirky_turing", attributes={"height": "40", "width": "120"})
        record(type="image", action="tag", actor="sha256:1", attributes={"name": "a:b"})
        with pytest.raises(errors.NotFound):
            record(type="container", action="top", actor="nope", attributes={})
        recorded = [event for _, event in room.journal.after(0)]
    finally:
        events.install(None)
        room.journal.conn.close()
    assert [e["Actor"] for e in recorded] == [
        {"ID": CID, "Attributes": {"app": "web", "name": "quirky_turing", "image": "busybox", "height": "40",
                                   "width": "120"}},
        {"ID": "sha256:1", "Attributes": {"name": "a:b"}}]
    assert recorded[0]["from"] == "busybox" and recorded[0]["Action"] == "resize"
