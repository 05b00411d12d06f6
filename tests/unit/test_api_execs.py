"""The api's exec endpoints: reading the bodies (Docker's fields, types, defaults, 400s),
the routes and replies, on the real app with a stand-in supervisor and shim."""

from __future__ import annotations

import asyncio
import struct

import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.api import execs
from services.api.app import make_app
from services.common import errors, wire
from services.common.config import Settings

from .test_wire import CID, EXEC_CONFIG, EXEC_ID, SAMPLES

INSPECT = SAMPLES["exec.inspect"]["reply"]
RUNNING = {"Id": CID, "State": {"Running": True, "Pid": 889913}}


class Supervisor:
    """Canned replies; every call's params are checked against the wire schema."""

    def __init__(self, replies: dict | None = None):
        self.calls: list[tuple[str, dict]] = []
        self.replies = {"exec.create": {"id": EXEC_ID}, "exec.inspect": INSPECT, "container.inspect": RUNNING,
                        "exec.start": {"container": CID, "pid": 889913, "config": EXEC_CONFIG},
                        **(replies or {})}

    async def call(self, name: str, params: dict | None = None, **kw):
        params = params or {}
        wire.check(wire.method(name).params, params, name)
        self.calls.append((name, params))
        reply = self.replies[name]
        if isinstance(reply, Exception):
            raise reply
        return reply

    def close(self) -> None:
        pass


class Shim:
    """Stands in for locator.call/stream to the container's shim."""

    def __init__(self, chunks=()):
        self.chunks = list(chunks)
        self.calls: list[tuple[str, dict]] = []
        self.taken = 0

    async def call(self, clients, cid, pid, method, params=None, timeout=...):
        wire.check(wire.method(method).params, {"pid": pid, **params}, method)
        self.calls.append((method, params))
        return {}

    async def stream(self, clients, cid, pid, method, params=None, upload=None):
        wire.check(wire.method(method).params, {"pid": pid, **params}, method)
        self.calls.append((method, params))
        for chunk in self.chunks:
            self.taken += 1
            yield chunk


def with_api(tmp_path, monkeypatch, body, supervisor=None, shim=None):
    supervisor, shim = supervisor or Supervisor(), shim or Shim()
    monkeypatch.setattr(execs.locator, "call", shim.call)
    monkeypatch.setattr(execs.locator, "stream", shim.stream)

    async def main():
        app = make_app(Settings(exec_root=str(tmp_path)), supervisor)
        async with TestClient(TestServer(app)) as client:
            await body(client)
    asyncio.run(main())
    return supervisor, shim


# ------------------------------------------------------------ the create body

def test_a_minimal_body_gets_dockers_defaults():
    config = execs.exec_config({"Cmd": ["ls"], "Unknown": 1})
    wire.check(wire.EXEC_CONFIG, config, "config")
    assert config == {"Cmd": ["ls"], "Env": [], "WorkingDir": "", "User": "", "Privileged": False, "Tty": False,
                      "AttachStdin": False, "AttachStdout": False, "AttachStderr": False, "DetachKeys": "",
                      "ConsoleSize": None}


def test_a_full_body_is_kept():
    body = {**EXEC_CONFIG, "Env": ["A=1"], "User": "1000:1000", "WorkingDir": "/tmp", "ConsoleSize": [40, 120],
            "DetachKeys": "ctrl-x", "Tty": True, "Privileged": True}
    assert execs.exec_config(body) == body
    assert execs.exec_config({"Cmd": "ls", "Env": None, "Tty": None})["Cmd"] == ["ls"]


@pytest.mark.parametrize("body, message", [
    ([], "the exec config must be a JSON object"),
    ({}, "No exec command specified"),
    ({"Cmd": []}, "No exec command specified"),
    ({"Cmd": ["ls", 1]}, "invalid value for Cmd: expected a list of strings"),
    ({"Cmd": ["ls"], "Env": "A=1"}, "invalid value for Env"),
    ({"Cmd": ["ls"], "Tty": "yes"}, "invalid value for Tty: expected a boolean"),
    ({"Cmd": ["ls"], "AttachStdin": 1}, "invalid value for AttachStdin"),
    ({"Cmd": ["ls"], "User": 0}, "invalid value for User: expected a string"),
    ({"Cmd": ["ls"], "ConsoleSize": [40]}, "invalid value for ConsoleSize"),
    ({"Cmd": ["ls"], "ConsoleSize": [40, -1]}, "invalid value for ConsoleSize"),
    ({"Cmd": ["ls"], "ConsoleSize": [40, True]}, "invalid value for ConsoleSize"),
])
def test_bad_bodies_are_400s(body, message):
    with pytest.raises(errors.BadParameter, match=message):
        execs.exec_config(body)


def test_start_options():
    assert execs.start_options(None) == {"Detach": False, "Tty": None, "ConsoleSize": None}
    assert execs.start_options({"Detach": True, "Tty": False}) == {"Detach": True, "Tty": False, "ConsoleSize": None}
    with pytest.raises(errors.BadParameter, match="invalid value for Detach"):
        execs.start_options({"Detach": "1"})


# ------------------------------------------------------------------ routes

def test_create_route(tmp_path, monkeypatch):
    async def body(client):
        for prefix in ("", "/v1.45", "/v1.24"):
            resp = await client.post(f"{prefix}/containers/web/exec", json={"Cmd": ["ls"], "AttachStdout": True})
            assert resp.status == 201 and await resp.json() == {"Id": EXEC_ID}
        resp = await client.post("/containers/web/exec", json={"Cmd": "ls", "Tty": "no"})
        assert resp.status == 400 and "Tty" in (await resp.json())["message"]
        resp = await client.post("/containers/web/exec")
        assert resp.status == 400
    supervisor, _ = with_api(tmp_path, monkeypatch, body)
    assert supervisor.calls[0] == ("exec.create", {"container": "web", "config": execs.exec_config(
        {"Cmd": ["ls"], "AttachStdout": True})})
    assert len(supervisor.calls) == 3


def test_create_in_a_missing_container_is_404(tmp_path, monkeypatch):
    async def body(client):
        resp = await client.post("/containers/nope/exec", json={"Cmd": ["ls"]})
        assert resp.status == 404 and (await resp.json())["message"] == "No such container: nope"
    with_api(tmp_path, monkeypatch, body, Supervisor({"exec.create": errors.NotFound("No such container: nope")}))


def test_inspect_route(tmp_path, monkeypatch):
    async def body(client):
        resp = await client.get(f"/v1.45/exec/{EXEC_ID}/json")
        assert resp.status == 200 and await resp.json() == INSPECT
        resp = await client.get("/exec/nope/json")
        assert resp.status == 404
    missing = errors.NotFound("No such exec instance: nope")

    class Some(Supervisor):
        async def call(self, name, params=None, **kw):
            if params and params.get("id") == "nope":
                raise missing
            return await super().call(name, params, **kw)
    with_api(tmp_path, monkeypatch, body, Some())


def test_resize_route(tmp_path, monkeypatch):
    async def body(client):
        resp = await client.post(f"/exec/{EXEC_ID}/resize?h=40&w=120")
        assert resp.status == 200
        for query in ("h=40", "h=x&w=1", "h=-1&w=1"):
            resp = await client.post(f"/exec/{EXEC_ID}/resize?{query}")
            assert resp.status == 400, query
    _, shim = with_api(tmp_path, monkeypatch, body)
    assert shim.calls == [("shim.exec_resize", {"exec_id": EXEC_ID, "height": 40, "width": 120})]


def test_detached_start_takes_the_first_chunk_only(tmp_path, monkeypatch):
    shim = Shim([{"pid": 4242}, ({"fd": 1}, b"never read")])

    async def body(client):
        resp = await client.post(f"/v1.45/exec/{EXEC_ID}/start", json={"Detach": True, "Tty": True})
        assert resp.status == 200 and await resp.read() == b""
    with_api(tmp_path, monkeypatch, body, shim=shim)
    assert shim.taken == 1
    method, params = shim.calls[0]
    # The exec's own Tty (its create's) decides, as dockerd's, whatever the start says.
    assert method == "shim.exec" and params["detach"] is True and params["config"]["Tty"] is False


def test_start_conflict_is_409_before_any_hijack(tmp_path, monkeypatch):
    async def body(client):
        resp = await client.post(f"/exec/{EXEC_ID}/start", json={})
        assert resp.status == 409
    with_api(tmp_path, monkeypatch, body,
             Supervisor({"exec.start": errors.Conflict(f"Error: Exec command {EXEC_ID} has already run")}))


def test_attached_start_streams_the_asked_output_multiplexed(tmp_path, monkeypatch):
    shim = Shim([{"pid": 4242}, ({"fd": 1}, b"out\n"), ({"fd": 2}, b"err\n"), {"exit_code": 0}])
    config = {**EXEC_CONFIG, "AttachStderr": False}

    async def body(client):
        resp = await client.post(f"/v1.45/exec/{EXEC_ID}/start", json={"Detach": False})
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/vnd.docker.multiplexed-stream"
        assert await resp.read() == struct.pack(">BxxxI", 1, 4) + b"out\n"
    with_api(tmp_path, monkeypatch, body,
             Supervisor({"exec.start": {"container": CID, "pid": 889913, "config": config}}), shim)
    assert shim.calls[0][1]["detach"] is False


def test_attached_start_with_a_tty_is_raw(tmp_path, monkeypatch):
    shim = Shim([{"pid": 4242}, ({"fd": 0}, b"$ "), {"exit_code": 0}])
    config = {**EXEC_CONFIG, "Tty": True}

    async def body(client):
        resp = await client.post(f"/v1.45/exec/{EXEC_ID}/start", json={"Tty": True})
        assert resp.headers["Content-Type"] == "application/vnd.docker.raw-stream"
        assert await resp.read() == b"$ "
    with_api(tmp_path, monkeypatch, body,
             Supervisor({"exec.start": {"container": CID, "pid": 889913, "config": config}}), shim)
    assert shim.calls[0][1]["config"]["Tty"] is True


def test_a_tty_execs_output_is_framed_when_its_start_says_no_tty(tmp_path, monkeypatch):
    """docker-py's exec_start sends Tty false for an exec created with one, and reads frames:
    the exec still gets its terminal, its output comes framed as stdout, as from dockerd."""
    shim = Shim([{"pid": 4242}, ({"fd": 0}, b"$ "), {"exit_code": 0}])
    config = {**EXEC_CONFIG, "Tty": True}

    async def body(client):
        resp = await client.post(f"/v1.45/exec/{EXEC_ID}/start", json={"Tty": False})
        assert resp.headers["Content-Type"] == "application/vnd.docker.multiplexed-stream"
        assert await resp.read() == struct.pack(">BxxxI", 1, 2) + b"$ "
    with_api(tmp_path, monkeypatch, body,
             Supervisor({"exec.start": {"container": CID, "pid": 889913, "config": config}}), shim)
    assert shim.calls[0][1]["config"]["Tty"] is True
