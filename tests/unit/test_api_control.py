"""The api's pause, unpause and rename endpoints: routes, params, replies and errors, on
the real app with a stand-in supervisor."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient, TestServer

from services.api.app import make_app
from services.common import errors, wire
from services.common.config import Settings

from .test_wire import CID


class Supervisor:
    """Canned replies ({} unless told); every call's params checked against the wire schema."""

    def __init__(self, replies: dict | None = None):
        self.calls: list[tuple[str, dict]] = []
        self.replies = replies or {}

    async def call(self, name: str, params: dict | None = None, **kw):
        params = params or {}
        wire.check(wire.method(name).params, params, name)
        self.calls.append((name, params))
        reply = self.replies.get(name, {})
        if isinstance(reply, Exception):
            raise reply
        return reply

    def close(self) -> None:
        pass


def with_api(tmp_path, body, supervisor=None):
    supervisor = supervisor or Supervisor()

    async def main():
        app = make_app(Settings(exec_root=str(tmp_path)), supervisor)
        async with TestClient(TestServer(app)) as client:
            await body(client)
    asyncio.run(main())
    return supervisor


def test_pause_and_unpause_are_204_plain_and_versioned(tmp_path):
    async def body(client):
        for path in (f"/containers/{CID}/pause", "/v1.45/containers/web/unpause", "/v1.24/containers/web/pause"):
            r = await client.post(path)
            assert r.status == 204 and await r.read() == b"", path
    supervisor = with_api(tmp_path, body)
    assert supervisor.calls == [("container.pause", {"id": CID}), ("container.unpause", {"id": "web"}),
                                ("container.pause", {"id": "web"})]


def test_pause_errors_are_the_supervisors(tmp_path):
    async def body(client):
        r = await client.post("/containers/web/pause")
        assert r.status == 409 and (await r.json())["message"] == "Container abc is not running"
        r = await client.post("/containers/nope/unpause")
        assert r.status == 404 and (await r.json())["message"] == "No such container: nope"
    with_api(tmp_path, body, Supervisor({"container.pause": errors.Conflict("Container abc is not running"),
                                         "container.unpause": errors.NotFound("No such container: nope")}))


def test_rename_passes_the_name(tmp_path):
    async def body(client):
        r = await client.post("/containers/web/rename?name=api")
        assert r.status == 204
    supervisor = with_api(tmp_path, body)
    assert supervisor.calls == [("container.rename", {"id": "web", "name": "api"})]


def test_rename_without_a_name_is_a_400_before_any_call(tmp_path):
    async def body(client):
        for path in ("/containers/web/rename", "/containers/web/rename?name="):
            r = await client.post(path)
            assert r.status == 400 and (await r.json())["message"] == "Neither old nor new names may be empty"
    supervisor = with_api(tmp_path, body)
    assert supervisor.calls == []


def test_rename_conflict_is_a_409(tmp_path):
    async def body(client):
        r = await client.post("/containers/web/rename?name=db")
        assert r.status == 409 and "already in use" in (await r.json())["message"]
    with_api(tmp_path, body, Supervisor({"container.rename": errors.Conflict(
        'Error when allocating new name: Conflict. The container name "/db" is already in use')}))
