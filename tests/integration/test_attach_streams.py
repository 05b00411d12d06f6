"""Attach and exec streams as Docker does them (issue 12), over raw hijacked sockets and a
websocket: detach keys (the default, `detachKeys`, an exec's DetachKeys, Docker's 400s),
the container or exec'd process running on after a detach, a sequence that does not
complete passed on, and stdin's end with and without a tty and StdinOnce."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from ..polling import until
from .containers import Attached, create, ensure_busybox, inspect, remove, start, wait

CTRL_P, CTRL_Q = b"\x10", b"\x11"


@pytest.fixture(scope="module", autouse=True)
def busybox(daemon):
    ensure_busybox(daemon)


def running(daemon, **config) -> str:
    cid = create(daemon, "/v1.45", **config)
    start(daemon, cid, "/v1.45")
    return cid


def closed(conn: Attached, timeout: float = 10) -> bytes:
    """Everything up to the end of the connection (the test fails if it stays open)."""
    return conn.read_all(timeout=timeout)


def still_running(daemon, cid: str) -> bool:
    return inspect(daemon, cid)["State"]["Running"] is True


class ExecStream(Attached):
    """A hijacked POST /exec/{id}/start, as the docker CLI makes it (its own request; the
    reading and writing of Attached)."""

    def __init__(self, daemon, exec_id: str, tty: bool):
        body = json.dumps({"Detach": False, "Tty": tty}).encode()
        self._open(daemon, f"POST /v1.45/exec/{exec_id}/start HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           f"Content-Length: {len(body)}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode() + body)


def exec_create(daemon, cid: str, **config) -> str:
    config = {"AttachStdin": True, "AttachStdout": True, "AttachStderr": True, **config}
    r = daemon.request("POST", f"/v1.45/containers/{cid}/exec", body=json.dumps(config).encode(),
                       headers={"Content-Type": "application/json"})
    assert r.status == 201, r.body
    return r.json()["Id"]


def exec_inspect(daemon, exec_id: str) -> dict:
    return daemon.get(f"/v1.45/exec/{exec_id}/json").json()


# ------------------------------------------------------------- container attach

def test_the_default_keys_end_an_attach_and_the_container_runs_on(daemon):
    cid = running(daemon, Cmd=["cat"], Tty=True, OpenStdin=True)
    a = Attached(daemon, cid, "stream=1&stdin=1&stdout=1", upgrade=True, prefix="/v1.45")
    assert a.status == 101
    a.send(b"before\n")
    a.read_until(b"before\r\nbefore\r\n")   # the tty's echo, then cat's line
    a.send(CTRL_P)
    a.send(CTRL_Q)
    rest = closed(a)
    assert b"\x10" not in rest and b"^P" not in rest   # the sequence never reached the tty
    assert still_running(daemon, cid)
    # Its stdin is as it was: a new attach reaches the same cat.
    b = Attached(daemon, cid, "stream=1&stdin=1&stdout=1", upgrade=True, prefix="/v1.45")
    b.send(b"again\n")
    b.read_until(b"again\r\nagain\r\n")
    b.close()
    a.close()
    remove(daemon, cid)


def test_detach_keys_from_the_query_and_a_sequence_that_does_not_complete(daemon):
    cid = running(daemon, Cmd=["cat"], Tty=True, OpenStdin=True)
    a = Attached(daemon, cid, "stream=1&stdin=1&stdout=1&detachKeys=ctrl-a,b", upgrade=True, prefix="/v1.45")
    a.send(CTRL_P + CTRL_Q + b"y")   # not this attach's keys: bytes for cat
    a.send(b"\x01")                  # the start of its own, held ...
    a.send(b"z\n")                   # ... and passed on when the next is not its end
    assert b"\x01z\r\n" in a.read_until(b"\x01z\r\n", timeout=10)
    a.send(b"\x01b")
    closed(a)
    assert still_running(daemon, cid)
    a.close()
    remove(daemon, cid)


@pytest.mark.parametrize("keys", ["ctrl-", "ctrl-P", "ab", "ctrl-p,,ctrl-q"])
def test_bad_detach_keys_are_a_400(daemon, keys):
    cid = running(daemon, Cmd=["cat"], Tty=True, OpenStdin=True)
    r = daemon.request("POST", f"/v1.45/containers/{cid}/attach?stream=1&stdin=1&detachKeys={keys}")
    assert r.status == 400 and json.loads(r.body)["message"] == f"Invalid detach keys ({keys}) provided"
    remove(daemon, cid)


def test_without_a_tty_the_keys_are_plain_bytes(daemon):
    cid = running(daemon, Cmd=["od", "-An", "-tx1"], OpenStdin=True, StdinOnce=True)
    a = Attached(daemon, cid, "stream=1&stdin=1&stdout=1", prefix="/v1.45")
    a.send(b"A" + CTRL_P + CTRL_Q + b"B")
    a.close_stdin()   # StdinOnce: od sees the end of its input, prints, exits
    assert b"41 10 11 42" in closed(a)
    assert wait(daemon, cid) == 0
    remove(daemon, cid)


def test_paused_is_a_409_before_any_hijack(daemon):
    cid = running(daemon, Cmd=["cat"], OpenStdin=True)
    assert daemon.request("POST", f"/v1.45/containers/{cid}/pause").status == 204
    r = daemon.request("POST", f"/v1.45/containers/{cid}/attach?stream=1&stdout=1")
    assert r.status == 409 and "unpause the container before attach" in json.loads(r.body)["message"]
    remove(daemon, cid)


# ------------------------------------------------------------- stdin's end

def test_stdin_once_closes_the_containers_stdin_when_the_client_goes(daemon):
    cid = running(daemon, Cmd=["sh", "-c", "cat; echo eof; exec tail -f /dev/null"], OpenStdin=True, StdinOnce=True)
    a = Attached(daemon, cid, "stream=1&stdin=1&stdout=1", prefix="/v1.45")
    a.send(b"x\n")
    a.read_until(b"x\n")
    a.close()   # gone entirely, not half-closed
    until(lambda: b"eof" in daemon.get(f"/v1.45/containers/{cid}/logs?stdout=1").body, 20,
          "cat to see the end of its stdin")
    remove(daemon, cid)


def test_without_stdin_once_the_end_of_stdin_ends_the_attach_only(daemon):
    cid = running(daemon, Cmd=["cat"], OpenStdin=True)
    a = Attached(daemon, cid, "stream=1&stdin=1&stdout=1", prefix="/v1.45")
    a.send(b"one\n")
    a.read_until(b"one\n")
    a.close_stdin()
    assert closed(a) == b"\x01\x00\x00\x00\x00\x00\x00\x04one\n"   # the attach ends ...
    assert still_running(daemon, cid)   # ... and cat, whose stdin stays open, runs on
    b = Attached(daemon, cid, "stream=1&stdin=1&stdout=1", prefix="/v1.45")
    b.send(b"two\n")
    assert b"two\n" in b.read_until(b"two\n")
    b.close()
    a.close()
    remove(daemon, cid)


def test_with_a_tty_and_stdin_once_the_end_of_stdin_leaves_the_container_running(daemon):
    # What `docker run -it` makes: a client gone must not end the shell.
    cid = running(daemon, Cmd=["sh"], Tty=True, OpenStdin=True, StdinOnce=True)
    a = Attached(daemon, cid, "stream=1&stdin=1&stdout=1&stderr=1", upgrade=True, prefix="/v1.45")
    a.send(b"echo $((40+2))\n")
    a.read_until(b"42\r\n")
    a.close_stdin()
    closed(a)
    a.close()
    c = Attached(daemon, cid, "stream=1&stdin=1&stdout=1&stderr=1", upgrade=True, prefix="/v1.45")
    c.sock.close()   # a client that just goes away
    b = Attached(daemon, cid, "stream=1&stdin=1&stdout=1&stderr=1", upgrade=True, prefix="/v1.45")
    b.send(b"echo still $((6*7))\n")
    b.read_until(b"still 42\r\n")
    assert still_running(daemon, cid)
    b.close()
    remove(daemon, cid)


# ------------------------------------------------------------- exec

@pytest.mark.parametrize("runtime", ["builtin", "runc"])
def test_an_exec_with_a_tty_detaches_and_runs_on(daemon, runtime):
    cid = running(daemon, Cmd=["tail", "-f", "/dev/null"], HostConfig={"Runtime": runtime})
    exec_id = exec_create(daemon, cid, Cmd=["cat"], Tty=True)
    e = ExecStream(daemon, exec_id, tty=True)
    assert e.status == 101 and "raw-stream" in e.head
    e.send(b"hi\n")
    e.read_until(b"hi\r\nhi\r\n")
    e.send(CTRL_P)
    e.send(CTRL_Q)
    closed(e)
    e.close()
    info = exec_inspect(daemon, exec_id)
    assert info["Running"] is True and info["ExitCode"] is None and info["DetachKeys"] == ""
    assert still_running(daemon, cid)
    remove(daemon, cid)


def test_an_execs_own_detach_keys(daemon):
    cid = running(daemon, Cmd=["tail", "-f", "/dev/null"])
    exec_id = exec_create(daemon, cid, Cmd=["cat"], Tty=True, DetachKeys="ctrl-x")
    e = ExecStream(daemon, exec_id, tty=True)
    e.send(CTRL_P + CTRL_Q + b"alive\n")   # not its keys: the session goes on
    assert b"alive\r\n" in e.read_until(b"alive\r\n", timeout=10)
    e.send(b"\x18")
    closed(e)
    assert exec_inspect(daemon, exec_id)["Running"] is True
    r = daemon.request("POST", f"/v1.45/containers/{cid}/exec", body=b'{"Cmd": ["cat"], "DetachKeys": "ctrl-"}',
                       headers={"Content-Type": "application/json"})
    assert r.status == 400 and json.loads(r.body)["message"] == "Invalid escape keys (ctrl-) provided"
    e.close()
    remove(daemon, cid)


def test_an_exec_without_a_tty_gets_the_end_of_its_stdin(daemon):
    cid = running(daemon, Cmd=["tail", "-f", "/dev/null"])
    exec_id = exec_create(daemon, cid, Cmd=["sh", "-c", "od -An -tx1; echo done"])
    e = ExecStream(daemon, exec_id, tty=False)
    e.send(b"12" + CTRL_P + CTRL_Q)   # bytes like any others
    e.close_stdin()
    out = closed(e)
    assert b"31 32 10 11" in out and b"done\n" in out
    until(lambda: exec_inspect(daemon, exec_id)["ExitCode"] == 0, 10, "the exec's end")
    remove(daemon, cid)


def test_stdin_larger_than_the_apis_buffer_arrives_whole(daemon):
    # The api stops reading the client while 1 MiB waits for the process: it reads on after.
    cid = running(daemon, Cmd=["tail", "-f", "/dev/null"])
    exec_id = exec_create(daemon, cid, Cmd=["wc", "-c"], AttachStderr=False)
    e = ExecStream(daemon, exec_id, tty=False)
    e.send(b"y" * (8 << 20))
    e.close_stdin()
    assert closed(e, timeout=60)[8:].strip() == str(8 << 20).encode()
    remove(daemon, cid)


# ------------------------------------------------------------- websocket

def _ws_url(cid: str, query: str, version: str = "1.45") -> str:
    return f"http://localhost/v{version}/containers/{cid}/attach/ws?{query}"


async def _ws(daemon, cid: str, query: str, version: str = "1.45", tcp: bool = False):
    """A websocket attach over the unix socket, or over TCP (as docker-py makes one)."""
    if tcp:
        session = aiohttp.ClientSession()
        url = _ws_url(cid, query, version).replace("http://localhost", f"ws://127.0.0.1:{daemon.port}")
    else:
        session = aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=daemon.sock))
        url = _ws_url(cid, query, version)
    try:
        return session, await session.ws_connect(url)
    except BaseException:
        await session.close()
        raise


async def _messages_until(ws, needle: bytes, timeout: float = 10) -> list:
    got, seen = [], b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        msg = await ws.receive(timeout=max(0.1, deadline - time.monotonic()))
        assert msg.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT), (msg, got)
        got.append(msg)
        seen += msg.data if isinstance(msg.data, bytes) else msg.data.encode()
    return got


def test_websocket_output_of_a_container_started_after(daemon):
    line = "hi there and stuff and things, words!"
    cid = create(daemon, "/v1.45", Cmd=["printf", line])

    async def main():
        session, ws = await _ws(daemon, cid, "stdout=1&stream=1&logs=1", tcp=True)
        try:
            start(daemon, cid, "/v1.45")
            msg = await ws.receive(timeout=20)
            assert msg.type == aiohttp.WSMsgType.BINARY and msg.data == line.encode()
            end = await ws.receive(timeout=20)   # the output ended: the daemon closes
            assert end.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        finally:
            await ws.close()
            await session.close()
    asyncio.run(main())
    assert wait(daemon, cid) == 0
    remove(daemon, cid)


def test_websocket_stdin_streams_and_versions(daemon):
    cid = running(daemon, Cmd=["sh", "-c", "cat; echo gone >&2"], OpenStdin=True)

    async def main():
        # 1.45: the streams asked for; binary messages, never multiplexed.
        session, ws = await _ws(daemon, cid, "stdin=1&stdout=1&stream=1")
        await ws.send_bytes(b"binary in\n")
        await ws.send_str("text in\n")
        got = await _messages_until(ws, b"text in\n")
        assert all(m.type == aiohttp.WSMsgType.BINARY for m in got)
        assert b"".join(m.data for m in got) == b"binary in\ntext in\n"
        await ws.close()
        await session.close()
        # 1.27: text messages; before 1.42 all three streams whatever the query says.
        session, ws = await _ws(daemon, cid, "stream=1", version="1.27")
        await ws.send_str("old\n")
        got = await _messages_until(ws, b"old\n")
        assert all(m.type == aiohttp.WSMsgType.TEXT for m in got) and "".join(m.data for m in got) == "old\n"
        await ws.close()
        await session.close()
    asyncio.run(main())
    assert still_running(daemon, cid)
    remove(daemon, cid)


def test_websocket_detach_and_bad_keys(daemon):
    cid = running(daemon, Cmd=["cat"], Tty=True, OpenStdin=True)

    async def main():
        session, ws = await _ws(daemon, cid, "stdin=1&stdout=1&stream=1&detachKeys=ctrl-e")
        await ws.send_bytes(b"ok\n")
        await _messages_until(ws, b"ok\r\nok\r\n")
        await ws.send_bytes(b"\x05")
        end = await ws.receive(timeout=10)
        assert end.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), end
        await ws.close()
        with pytest.raises(aiohttp.WSServerHandshakeError) as bad:
            await session.ws_connect(_ws_url(cid, "stdin=1&stream=1&detachKeys=ctrl-"))
        assert bad.value.status == 400
        await session.close()
    asyncio.run(main())
    assert still_running(daemon, cid)
    r = daemon.request("GET", f"/v1.45/containers/{cid}/attach/ws?stream=1")   # not a websocket
    assert r.status == 400
    remove(daemon, cid)
