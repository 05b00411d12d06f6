"""Plain pings answered before aiohttp (services/api/fastping.py): what counts as one, that
the answer is system.ping's, and that nothing else on the connection is overtaken."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from services.api import fastping, hijack
from services.api.app import Connection, make_app
from services.common.config import Settings

from ..polling import eventually


H = b"Host: docker\r\n"


@pytest.mark.parametrize("request_bytes, plain", [
    (b"GET /_ping HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: identity\r\n\r\n", False),
    (b"HEAD /_ping HTTP/1.1\r\nHost: docker\r\nUser-Agent: Docker-Client/24.0.7 (linux)\r\n\r\n", True),
    (b"GET /v1.45/_ping HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n", False),
    (b"HEAD /v1.0/_ping HTTP/1.1\r\nConnection: Keep-Alive\r\nhost: x\r\n\r\n", True),
    (b"GET /_ping HTTP/1.1\r\nUser-Agent: x\r\n\r\n", None),   # no Host: aiohttp's 400
    (b"GET /v1.12/_ping HTTP/1.1\r\n" + H + b"\r\n", None),   # no such version: aiohttp's 400
    (b"GET /v1.99/_ping HTTP/1.1\r\n" + H + b"\r\n", None),
    (b"GET /_ping HTTP/1.0\r\n" + H + b"\r\n", None),         # HTTP/1.0: closed after
    (b"GET /_ping HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n", None),
    (b"GET /_ping HTTP/1.1\r\n" + H + b"Content-Length: 0\r\n\r\n", None),
    (b"GET /_ping HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n", None),
    (b"GET /_ping HTTP/1.1\r\n" + H + b"Upgrade: tcp\r\nConnection: Upgrade\r\n\r\n", None),
    (b"GET /_ping HTTP/1.1\r\n" + H + b"Expect: 100-continue\r\n\r\n", None),
    (b"GET /_ping?x=1 HTTP/1.1\r\n" + H + b"\r\n", None),
    (b"GET /_ping/ HTTP/1.1\r\n" + H + b"\r\n", None),
    (b"POST /_ping HTTP/1.1\r\n" + H + b"\r\n", None),
    (b"GET /_ping HTTP/1.1\r\n" + H, None),                     # not all of its head yet
    (b"GET /_ping HTTP/1.1\r\n" + H + b"\r\nGET /_ping HTTP/1.1\r\n" + H + b"\r\n", None),   # two: aiohttp's
    (b"GET /_ping HTTP/1.1\r\n" + H + b"X-Folded: a\r\n b\r\n\r\n", None),
    (b"GET /_ping HTTP/1.1\r\n" + H + b"Bad Header: a\r\n\r\n", None),
])
def test_what_is_a_plain_ping(request_bytes, plain):
    assert fastping.plain_ping(request_bytes) is plain


class Gate:
    """The api's clients: container.summaries waits for the test to open the gate."""

    def __init__(self):
        self.called = asyncio.Event()
        self.open = asyncio.Event()
        self.closed = False

    async def call(self, name: str, params: dict | None = None, **kw):
        assert name == "container.summaries"
        self.called.set()
        await self.open.wait()
        return {"rows": [{"before": b'{"Id":"x"', "after": b"}", "since": None}]}

    def close(self) -> None:
        self.closed = True


def responses(data: bytes, head: bool = False) -> list[tuple[str, dict, bytes]]:
    """The responses in `data`: status line, headers, body (of its Content-Length, none
    for a HEAD) and whether all of it is there."""
    out = []
    while data:
        top, _, data = data.partition(b"\r\n\r\n")
        lines = top.decode().split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:])
        size = 0 if head else int(headers.get("Content-Length", 0))
        out.append((lines[0], headers, data[:size], len(data) >= size))
        data = data[size:]
    return out


def serve(tmp_path, body):
    """Run `body(connect, gate, answered)` against the api as __main__ serves it: every
    connection through a Sniffer. `answered` holds, for each chunk fastping was shown,
    whether it answered it."""
    answered = []

    async def main():
        gate = Gate()
        app = make_app(Settings(exec_root=str(tmp_path)), gate)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        loop = asyncio.get_running_loop()
        path = str(tmp_path / "api.sock")
        server = await loop.create_unix_server(lambda: hijack.Sniffer(Connection(runner.server, loop)), path)

        async def connect():
            reader, writer = await asyncio.open_unix_connection(path)
            return reader, writer
        try:
            await body(connect, gate, answered)
        finally:
            server.close()
            await runner.cleanup()
    real = fastping.answer

    def recorded(handler, data: bytes, fresh: bool) -> bool:
        answered.append(real(handler, data, fresh))
        return answered[-1]
    mp = pytest.MonkeyPatch()
    mp.setattr(fastping, "answer", recorded)
    try:
        asyncio.run(main())
    finally:
        mp.undo()


async def exchange(reader, writer, request: bytes, count: int = 1,
                   head: bool = False) -> list[tuple[str, dict, bytes]]:
    """Send `request`, read `count` whole responses."""
    writer.write(request)
    data = b""
    while len(got := responses(data, head)) < count or not all(whole for *_, whole in got):
        chunk = await asyncio.wait_for(reader.read(65536), 5)
        assert chunk, data
        data += chunk
    return [(status, headers, body) for status, headers, body, _ in got]


def test_a_plain_ping_is_answered_as_aiohttp_answers_it(tmp_path):
    async def body(connect, gate, answered):
        reader, writer = await connect()
        [(fresh_status, fresh, _)] = await exchange(reader, writer, b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answered == [True]   # the first request of a connection too
        [(slow_status, slow, slow_body)] = await exchange(
            reader, writer, b"GET /_ping?aiohttp HTTP/1.1\r\nHost: x\r\n\r\n")   # (a query: aiohttp's)
        assert answered == [True, False]
        [(status, fast, fast_body)] = await exchange(reader, writer, b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        [(head_status, head, head_body)] = await exchange(
            reader, writer, b"HEAD /v1.45/_ping HTTP/1.1\r\nHost: x\r\n\r\n", head=True)
        assert answered == [True, False, True, True]
        assert slow_status == status == head_status == fresh_status == "HTTP/1.1 200 OK"
        assert slow_body == fast_body == b"OK" and head_body == b""
        for headers in (fresh, fast, head):
            assert {k: v for k, v in headers.items() if k != "Date"} == \
                {k: v for k, v in slow.items() if k != "Date"}
        assert {"API-Version": "1.45", "Ostype": "linux", "Builder-Version": "1", "Docker-Experimental": "false",
                "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache",
                "Content-Length": "2"}.items() <= head.items()
        writer.close()
    serve(tmp_path, body)


def test_a_ping_behind_a_request_in_hand_waits_its_turn(tmp_path):
    async def body(connect, gate, answered):
        reader, writer = await connect()
        writer.write(b"GET /v1.45/containers/json HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.wait_for(gate.called.wait(), 5)   # aiohttp has the list in hand
        writer.write(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")   # a plain ping, in a chunk of its own
        # fastping was shown the list (not a ping) and the ping, and answered neither.
        await eventually(lambda: answered == [False, False], 5, "the ping to reach the api")
        gate.open.set()
        got = await exchange(reader, writer, b"", count=2)
        assert [body for _, _, body in got] == [b'[{"Id":"x"}]\n', b"OK"]
        # aiohttp waits again: the next plain ping is fastping's.
        assert (await exchange(reader, writer, b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"))[0][2] == b"OK"
        assert answered == [False, False, True]
        writer.close()
    serve(tmp_path, body)


def test_a_ping_that_asks_to_close_is_aiohttps_and_closes(tmp_path):
    async def body(connect, gate, answered):
        reader, writer = await connect()
        [(status, headers, data)] = await exchange(reader, writer,
                                                   b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert (status, data, headers["Connection"]) == ("HTTP/1.1 200 OK", b"OK", "close")
        assert answered == [False] and await asyncio.wait_for(reader.read(), 5) == b""
    serve(tmp_path, body)


def test_it_knows_this_aiohttp():
    assert fastping.SUPPORTED
