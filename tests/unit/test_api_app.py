"""The api's middlewares and request helpers, on the real app with an in-memory client."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.api import params
from services.api.app import make_app
from services.api.routes import VERSION_PREFIX
from services.common import wire
from services.common.config import Settings


def with_client(tmp_path, body, **settings):
    async def main():
        clients = wire.Clients(str(tmp_path))
        app = make_app(Settings(exec_root=str(tmp_path), **settings), clients)

        async def echo(request):
            data = await params.json_body(request)
            return web.json_response({
                "body": data,
                "n": params.integer(request, "n", 0, minimum=0),
                "all": params.flag(request, "all"),
            })
        # A route for this test only, to drive the body and parameter helpers.
        app.router.add_post("/echo", echo)
        app.router.add_post(VERSION_PREFIX + "/echo", echo)
        async with TestClient(TestServer(app)) as client:
            await body(client)
        clients.close()
    asyncio.run(main())


def test_headers_on_every_response(tmp_path):
    async def body(client):
        for path in ("/_ping", "/version", "/nope"):
            r = await client.get(path)
            assert r.headers["API-Version"] == "1.45"
            assert r.headers["Server"].startswith("Dockyard/")
    with_client(tmp_path, body)


def test_unknown_route_and_version(tmp_path):
    async def body(client):
        r = await client.get("/no/such/route")
        assert r.status == 404 and (await r.json()) == {"message": "page not found"}
        r = await client.get("/v1.99/version")
        assert r.status == 400 and "1.24 to 1.45" in (await r.json())["message"]
    with_client(tmp_path, body)


def test_json_body_rules(tmp_path):
    async def body(client):
        r = await client.post("/echo?n=3&all=1", json={"a": 1})
        assert r.status == 200 and await r.json() == {"body": {"a": 1}, "n": 3, "all": True}
        r = await client.post("/echo", data=b"{not json", headers={"Content-Type": "application/json"})
        assert r.status == 400 and "malformed JSON" in (await r.json())["message"]
        r = await client.post("/echo", data=b'{"a":1}', headers={"Content-Type": "text/plain"})
        assert r.status == 400 and "Content-Type" in (await r.json())["message"]
        r = await client.post("/echo", data=b"x" * 2000, headers={"Content-Type": "application/json"})
        assert r.status == 413 and "limit of 1000 bytes" in (await r.json())["message"]
        for number in (b"9223372036854775808", b"-9223372036854775809", b"NaN", b"Infinity"):
            r = await client.post("/echo", data=b'{"a":' + number + b"}", headers={"Content-Type": "application/json"})
            assert r.status == 400 and "malformed JSON" in (await r.json())["message"], number
        r = await client.post("/echo", data=b'{"a":9223372036854775807}', headers={"Content-Type": "application/json"})
        assert r.status == 200
    with_client(tmp_path, body, max_json_body=1000)


def test_bad_parameters(tmp_path):
    async def body(client):
        r = await client.post("/echo?n=abc")
        assert r.status == 400 and "n" in (await r.json())["message"]
        r = await client.post("/echo?n=-1")
        assert r.status == 400
        r = await client.post("/echo?n=99999999999999999999")
        assert r.status == 400 and "out of range" in (await r.json())["message"]
        r = await client.post("/echo?all=0")
        assert (await r.json())["all"] is False
    with_client(tmp_path, body)


def test_info_without_services_is_503_quickly(tmp_path):
    async def body(client):
        loop = asyncio.get_running_loop()
        start = loop.time()
        r = await client.get("/info")
        assert r.status == 503 and "not running" in (await r.json())["message"]
        assert loop.time() - start < 5
    with_client(tmp_path, body)


def test_v1_booleans_are_strict_and_modern_ones_lax(tmp_path):
    async def body(client):
        for value, meant in (("1", True), ("True", True), ("true", True), ("t", True), ("TRUE", True),
                             ("0", False), ("False", False), ("false", False), ("", False), ("F", False)):
            for path in ("/echo", "/v1.0/echo"):
                r = await client.post(f"{path}?all={value}")
                assert r.status == 200 and (await r.json())["all"] is meant, (path, value)
        for value in ("yes", "no", "2", "on", " true", "none", "tRue"):
            for path in ("/echo", "/v1.0/echo"):
                r = await client.post(f"{path}?all={value}")
                assert r.status == 400, (path, value)
                message = (await r.json())["message"]
                assert message.startswith("Bad parameter") and "all" in message, message
        # Modern paths read them as dockerd does today: anything but 0/no/false/none is true.
        for value, meant in (("yes", True), ("2", True), ("on", True), (" true", True), ("tRue", True),
                             ("no", False), ("none", False), ("NO", False), ("", False), ("0", False)):
            r = await client.post(f"/v1.45/echo?all={value}")
            assert r.status == 200 and (await r.json())["all"] is meant, value
    with_client(tmp_path, body)
