"""The wire's transport, live: a real service and client on a socket; errors, streams, uploads, credit, cancellation."""

from __future__ import annotations

import asyncio
import os

import pytest

from services.common import errors, wire
from services.common.wire import loop_socket

from ..polling import eventually

TEST_METHODS = [
    wire.Method("test.echo", "testsvc", params={"text": str}, reply={"text": str}),
    wire.Method("test.fail", "testsvc", params={"kind": str}),
    wire.Method("test.slow", "testsvc", params={}, timeout=0.5, waits=True),
    wire.Method("test.change", "testsvc", params={}, timeout=0.2),
    wire.Method("test.count", "testsvc", params={"n": int}, chunk={"i": int}),
    wire.Method("test.held", "testsvc", params={"n": int}, chunk={"i": int}),
    wire.Method("test.bytes", "testsvc", params={"n": int}, chunk=bytes),
    wire.Method("test.upload", "testsvc", params={}, reply={"size": int, "chunks": int}, upload=True),
]


# What test.change has done (it sets it once it has run to its end), and test.held's cleanup.
changed: list[bool] = []
closed: list[bool] = []
gates: list[asyncio.Event] = []   # what test.change waits for


@pytest.fixture
def registry(monkeypatch):
    for m in TEST_METHODS:
        monkeypatch.setitem(wire.METHODS, m.name, m)


def run_with_server(tmp_path, body, produced=None):
    """Start a test service and run `body(client, server)` against it."""

    async def main():
        server = wire.ServiceServer(str(tmp_path), "testsvc")

        @server.handle("test.echo")
        async def echo(call):
            return {"text": call.params["text"]}

        @server.handle("test.fail")
        async def fail(call):
            kind = call.params["kind"]
            if kind == "crash":
                raise RuntimeError("boom")
            raise {"not_found": errors.NotFound, "conflict": errors.Conflict}[kind]("no such thing: x")

        @server.handle("test.slow")
        async def slow(call):
            await asyncio.Event().wait()  # answers never: only a cancel ends it
            return {}

        @server.handle("test.change")
        async def change(call):
            # Longer than its caller waits: it goes on once the test opens the gate.
            gates.append(asyncio.Event())
            await gates[-1].wait()
            changed.append(True)
            return {}

        @server.handle("test.held")
        async def held(call):
            try:
                for i in range(call.params["n"]):
                    yield {"i": i}
            finally:
                closed.append(True)

        @server.handle("test.count")
        async def count(call):
            for i in range(call.params["n"]):
                if produced is not None:
                    produced.append(i)
                yield {"i": i}

        @server.handle("test.bytes")
        async def raw(call):
            for i in range(call.params["n"]):
                yield bytes([i % 256]) * 1000

        @server.handle("test.upload")
        async def upload(call):
            size = chunks = 0
            async for data in call.upload:
                size += len(data)
                chunks += 1
            return {"size": size, "chunks": chunks}

        serving = asyncio.ensure_future(server.serve())
        clients = wire.Clients(str(tmp_path))
        client = clients["testsvc"]
        try:
            assert await client.wait_connected(5)
            return await body(client, server)
        finally:
            clients.close()
            serving.cancel()
            server.close()

    return asyncio.run(main())


def test_unary_call_and_socket_mode(tmp_path, registry):
    async def body(client, server):
        assert await client.call("test.echo", {"text": "héllo"}) == {"text": "héllo"}
        assert os.stat(tmp_path / "sock").st_mode & 0o777 == 0o700

    run_with_server(tmp_path, body)


def test_many_calls_in_flight_are_all_answered(tmp_path, registry):
    # More than a LoopSocket takes in one turn of the loop (BURST), both ways at once.
    async def body(client, server):
        texts = [f"call {i}" for i in range(5 * loop_socket.BURST)]
        replies = await asyncio.gather(*(client.call("test.echo", {"text": t}) for t in texts))
        assert [r["text"] for r in replies] == texts
    run_with_server(tmp_path, body)


def test_errors_cross_with_their_kind(tmp_path, registry):
    async def body(client, server):
        with pytest.raises(errors.NotFound, match="no such thing"):
            await client.call("test.fail", {"kind": "not_found"})
        with pytest.raises(errors.Conflict):
            await client.call("test.fail", {"kind": "conflict"})
        with pytest.raises(errors.ServerError, match="boom"):
            await client.call("test.fail", {"kind": "crash"})
        with pytest.raises(errors.BadParameter):
            await client.call("test.echo", {"text": 5})

    run_with_server(tmp_path, body)


def test_timeout_is_unavailable(tmp_path, registry):
    async def body(client, server):
        with pytest.raises(errors.Unavailable, match="did not answer test.slow"):
            await client.call("test.slow")
        await eventually(lambda: server.live_tasks() == 0, 5, "the caller's cancel to reach the service")

    run_with_server(tmp_path, body)


def test_a_call_that_changes_state_runs_to_its_end_when_its_caller_gives_up(tmp_path, registry):
    changed.clear()
    gates.clear()

    async def body(client, server):
        with pytest.raises(errors.Unavailable, match="did not answer test.change"):
            await client.call("test.change")
        assert server.live_tasks() == 1  # the caller's cancel did not stop it half-way
        gates[-1].set()
        await eventually(lambda: not server.live_tasks(), 5, "the call to run to its end")
        assert changed == [True]

    run_with_server(tmp_path, body)


def test_stream_respects_credit(tmp_path, registry):
    produced: list[int] = []

    async def body(client, server):
        stream = await client.stream("test.count", {"n": 100})
        await eventually(lambda: len(produced) >= wire.STREAM_WINDOW, 5, "the granted window to be sent")
        # A round trip through the service: had it gone past its window, it would have by now.
        assert await client.call("test.echo", {"text": "x"}) == {"text": "x"}
        # Nothing read yet: the service stopped at the window it was granted.
        assert len(produced) <= wire.STREAM_WINDOW + 1
        seen = [chunk["i"] async for chunk in stream]
        assert seen == list(range(100))

    run_with_server(tmp_path, body, produced)


def test_a_stream_cancelled_while_it_waits_for_credit_is_closed_at_once(tmp_path, registry):
    closed.clear()

    async def body(client, server):
        stream = await client.stream("test.held", {"n": 10_000})
        await stream.__anext__()  # it runs; the reader reads no more, so it soon waits for credit
        await eventually(lambda: server._outbound and all(o.credit <= 0 for o in server._outbound.values()),
                         5, "the service to wait for credit")
        await stream.aclose()
        # Its cleanup ran (a pull's staging removed), not left for the generator's collection.
        await eventually(lambda: closed == [True], 5, "the handler to be closed")

    run_with_server(tmp_path, body)


def test_stream_of_raw_bytes_and_cancel(tmp_path, registry):
    async def body(client, server):
        stream = await client.stream("test.bytes", {"n": 40})
        got = b"".join([chunk async for chunk in stream])
        assert got == b"".join(bytes([i]) * 1000 for i in range(40))
        stream = await client.stream("test.bytes", {"n": 10_000})
        await stream.__anext__()
        await stream.aclose()
        await eventually(lambda: server.live_tasks() == 0, 5, "the cancelled stream to end at the service")

    run_with_server(tmp_path, body)


def test_upload_with_credit(tmp_path, registry):
    async def body(client, server):
        async def chunks():
            for _ in range(200):
                yield b"x" * 4096
        assert await client.call("test.upload", upload=chunks()) == {"size": 200 * 4096, "chunks": 200}

        async def nothing():
            return
            yield
        # An upload that ends at once: its eof may reach the service before the call starts.
        for _ in range(20):
            assert await client.call("test.upload", upload=nothing(), timeout=3) == {"size": 0, "chunks": 0}

    run_with_server(tmp_path, body)


def test_service_down_fails_fast(tmp_path, registry):
    async def main():
        clients = wire.Clients(str(tmp_path))
        try:
            loop = asyncio.get_running_loop()
            start = loop.time()
            with pytest.raises(errors.Unavailable, match="not running"):
                await clients["testsvc"].call("test.echo", {"text": "x"})
            assert loop.time() - start < 3
        finally:
            clients.close()

    asyncio.run(main())


def test_service_gone_mid_call_fails_in_flight_request(tmp_path, registry):
    async def body(client, server):
        pending = asyncio.ensure_future(client.call("test.slow", timeout=30))
        await eventually(lambda: server.live_tasks() == 1, 5, "the call to reach the service")
        server.close()  # the service goes away with the request in flight
        with pytest.raises(errors.Unavailable, match="went away"):
            await asyncio.wait_for(pending, 5)

    run_with_server(tmp_path, body)


def test_calls_of_a_caller_that_died_are_cancelled(tmp_path, registry, monkeypatch):
    monkeypatch.setattr(wire.framing, "ALIVE_IVL", 0.1)
    monkeypatch.setattr(wire.framing, "CALLER_TIMEOUT", 0.5)

    async def body(client, server):
        async def endless():
            while True:  # paced by the service's credit, as every upload is
                yield b"x" * 100
        pending = asyncio.ensure_future(client.call("test.upload", upload=endless(), timeout=30))
        await eventually(lambda: server.live_tasks() == 1, 5, "the upload to reach the service")
        # Still alive: its call goes on as long as it keeps saying so (two caller timeouts
        # pass: a clock wait, for something that must not happen).
        loop = asyncio.get_running_loop()
        mark = loop.time() + 2 * wire.framing.CALLER_TIMEOUT
        await eventually(lambda: loop.time() > mark, 5)
        assert server.live_tasks() == 1
        # The caller falls silent (as a killed process would): no data, no cancel, no alive.
        client._tasks[-1].cancel()   # its "alive" task (the last)
        for pump in client._pumps.values():
            pump.cancel()
        await eventually(lambda: server.live_tasks() == 0, 5, "the silent caller's call to be cancelled")
        pending.cancel()

    run_with_server(tmp_path, body)
