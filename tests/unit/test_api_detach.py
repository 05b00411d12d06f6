"""Detach keys (Docker's syntax and its 400s), the matcher that finds them in a client's
stdin fed in pieces, and the session rules of the client's input (what reaches the shim,
when its end goes on, when the session ends)."""

from __future__ import annotations

import asyncio

import pytest

from services.api import detach, execs
from services.common import errors

CTRL_P, CTRL_Q = b"\x10", b"\x11"


# ------------------------------------------------------------------ parsing

@pytest.mark.parametrize("text, keys", [
    ("ctrl-p,ctrl-q", b"\x10\x11"),
    ("ctrl-x", b"\x18"),
    ("a", b"a"),
    ("Z", b"Z"),
    ("ctrl-@", b"\x00"),
    ("ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_", b"\x1b\x1c\x1d\x1e\x1f"),
    ("ctrl-a,b,DEL", b"\x01b\x7f"),
])
def test_dockers_syntax(text, keys):
    assert detach.parse(text) == keys


@pytest.mark.parametrize("text, key", [
    ("ctrl-P", "ctrl-P"), ("ctrl-", "ctrl-"), ("ctrl-p,,ctrl-q", ""), ("ab", "ab"), ("é", "é"),
    ("ctrl-p,", ""), ("ctrl-1", "ctrl-1"),
])
def test_what_is_not_a_key(text, key):
    with pytest.raises(ValueError, match=f"Unknown character: '{key}'"):
        detach.parse(text)


def test_the_query_parameter_and_its_400():
    assert detach.from_query(None) == detach.from_query("") == b"\x10\x11"
    assert detach.from_query("ctrl-x,y") == b"\x18y"
    with pytest.raises(errors.BadParameter, match=r"^Invalid detach keys \(ctrl-\) provided$"):
        detach.from_query("ctrl-")


def test_an_execs_keys_are_checked_at_its_create():
    config = execs.exec_config({"Cmd": ["sh"], "DetachKeys": "ctrl-a,x"})
    assert config["DetachKeys"] == "ctrl-a,x" and detach.of_exec(config["DetachKeys"]) == b"\x01x"
    with pytest.raises(errors.BadParameter, match=r"^Invalid escape keys \(bogus\) provided$"):
        execs.exec_config({"Cmd": ["sh"], "DetachKeys": "bogus"})
    assert detach.of_exec("") == b"\x10\x11"


def test_exec_fields_match_regardless_of_case_as_go_decodes_them():
    # docker-py sends `detachKeys` (from its config file).
    config = execs.exec_config({"cmd": ["cat"], "detachKeys": "ctrl-p", "attachstdin": True, "TTY": True})
    assert (config["Cmd"], config["DetachKeys"], config["AttachStdin"], config["Tty"]) == (["cat"], "ctrl-p", True, True)
    assert execs.start_options({"detach": True, "tty": True})["Detach"] is True


# ------------------------------------------------------------------ matching

def _run(matcher: detach.Matcher, pieces: list[bytes]) -> tuple[bytes, bool]:
    out = b""
    for piece in pieces:
        passed, done = matcher.feed(piece)
        out += passed
        if done:
            return out, True
    return out, False


@pytest.mark.parametrize("pieces, out, done", [
    ([b"hello"], b"hello", False),
    ([b"ab\x10\x11cd"], b"ab", True),                      # what follows the sequence is dropped
    ([b"ab\x10", b"\x11"], b"ab", True),                   # across pieces
    ([b"\x10", b"\x11"], b"", True),
    ([b"\x10"], b"", False),                               # held while it may still complete
    ([b"\x10", b"x"], b"\x10x", False),                    # passed on when it does not
    ([b"\x10\x10\x11"], b"\x10", True),                    # a second start restarts it
    ([b"\x10", b"\x10", b"\x11"], b"\x10", True),
    ([b"x\x11\x10y"], b"x\x11\x10y", False),
])
def test_the_default_sequence(pieces, out, done):
    assert _run(detach.Matcher(b"\x10\x11"), pieces) == (out, done)


def test_a_longer_sequence_that_repeats_its_start():
    # a,a,b: after "aa" a mismatch leaves "a" as the start.
    m = detach.Matcher(b"aab")
    assert _run(m, [b"a", b"a", b"a", b"b"]) == (b"a", True)
    m = detach.Matcher(b"aab")
    assert m.feed(b"aax") == (b"aax", False) and m.held == b""
    m = detach.Matcher(b"abc")
    assert m.feed(b"ab") == (b"", False)
    assert m.flush() == b"ab" and m.held == b""


def test_a_single_key():
    assert detach.Matcher(b"\x10").feed(b"abc\x10def") == (b"abc", True)


# ------------------------------------------------------------------ the client's input

class Source:
    """A client's stdin fed by the test: bytes, None (its end), or lost."""

    def __init__(self, items=()):
        self.queue: asyncio.Queue = asyncio.Queue()
        self.lost = asyncio.Event()
        for item in items:
            self.queue.put_nowait(item)

    async def read(self):
        data = await self.queue.get()
        if data is None:
            self.queue.put_nowait(None)
        return data

    def go_away(self):
        self.queue.put_nowait(None)
        self.lost.set()


async def _take(stdin: detach.ClientInput) -> tuple[list[bytes], bool]:
    """What the upload gives until the client's input is done, and whether the upload
    ended then (the end of stdin goes on to the shim) or stays open. The upload's last step
    (its end, or its wait) is taken in the turn that says the input is done: when this
    task wakes after that, the upload is over or it stays open."""
    got: list[bytes] = []

    async def collect():
        async for data in stdin:
            got.append(data)
    task = asyncio.ensure_future(collect())
    try:
        await asyncio.wait_for(stdin.input_done.wait(), 5)
        return got, task.done()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_with_a_tty_the_keys_end_the_session_and_never_its_stdin():
    async def main():
        source = Source([b"ls\r", CTRL_P, CTRL_Q + b"after"])
        stdin = detach.ClientInput(source, use_stdin=True, keys=detach.DEFAULT, eof_ends=True)
        got, ended = await _take(stdin)
        assert got == [b"ls\r"] and not ended      # no end of stdin for the shim
        assert stdin.detached and stdin.ended.is_set()
    asyncio.run(main())


def test_an_incomplete_sequence_goes_on_at_the_end():
    async def main():
        source = Source([b"x" + CTRL_P, None])
        stdin = detach.ClientInput(source, use_stdin=True, keys=detach.DEFAULT, eof_ends=True)
        got, ended = await _take(stdin)
        assert got == [b"x", CTRL_P] and not ended and stdin.ended.is_set() and not stdin.detached
    asyncio.run(main())


def test_without_a_tty_the_keys_are_bytes_and_the_end_goes_on():
    async def main():
        source = Source([CTRL_P + CTRL_Q, None])
        stdin = detach.ClientInput(source, use_stdin=True, keys=None, eof_ends=False)
        got, ended = await _take(stdin)
        assert got == [CTRL_P + CTRL_Q] and ended and not stdin.ended.is_set()
        # An upload made again (a call retried) ends at once too.
        async def again():
            return [data async for data in stdin]
        assert await asyncio.wait_for(again(), 5) == []
    asyncio.run(main())


def test_stdin_not_used_is_read_and_dropped_and_its_end_ends_nothing():
    async def main():
        source = Source([b"dropped", None])
        stdin = detach.ClientInput(source, use_stdin=False, keys=detach.DEFAULT, eof_ends=True)
        got, ended = await _take(stdin)
        assert got == [] and not ended and not stdin.ended.is_set()
    asyncio.run(main())


def test_until_ended_cancels_the_relay_at_a_detach():
    async def main():
        source = Source()
        stdin = detach.ClientInput(source, use_stdin=True, keys=detach.DEFAULT, eof_ends=True)
        cancelled = asyncio.Event()

        async def relay():
            try:
                async for _ in stdin:   # the relay is what reads the upload (through the shim call)
                    pass
            except asyncio.CancelledError:
                cancelled.set()
                raise
        source.queue.put_nowait(b"a\x10\x11")
        await asyncio.wait_for(stdin.until_ended(relay()), 2)
        assert cancelled.is_set() and stdin.detached
    asyncio.run(main())


def test_a_client_gone_ends_the_session_after_its_end_of_stdin_went_on():
    async def main():
        source = Source()
        stdin = detach.ClientInput(source, use_stdin=True, keys=None, eof_ends=False)
        upload_ended = asyncio.Event()

        async def relay():
            async for _ in stdin:
                pass
            upload_ended.set()   # the shim got the end: a StdinOnce container's stdin closes
            await asyncio.get_running_loop().create_future()   # the output goes on
        source.go_away()
        await asyncio.wait_for(stdin.until_ended(relay()), 2)
        assert upload_ended.is_set()
    asyncio.run(main())


def test_until_ended_returns_with_the_relay_and_passes_its_error():
    async def main():
        stdin = detach.ClientInput(Source(), use_stdin=True, keys=None, eof_ends=False)

        async def fine():
            return None
        await asyncio.wait_for(stdin.until_ended(fine()), 2)

        async def broken():
            raise ConnectionResetError("gone")
        with pytest.raises(ConnectionResetError):
            await stdin.until_ended(broken())
    asyncio.run(main())


def test_the_hijacked_connection_is_not_read_while_its_stdin_waits_unread():
    from services.api import hijack

    class Transport:
        def __init__(self):
            self.reading = True

        def pause_reading(self):
            self.reading = False

        def resume_reading(self):
            self.reading = True

    async def main():
        transport = Transport()
        reader = hijack.RawReader(transport)
        piece = b"x" * (256 << 10)
        for _ in range(4):
            reader.feed_data(piece)
        assert transport.reading   # 1 MiB waits: still read
        reader.feed_data(piece)
        assert not transport.reading   # more: the client is held back
        for _ in range(2):
            assert await reader.read() == piece
        assert not transport.reading
        await reader.read()   # half of the buffer or less waits: read again
        assert transport.reading
        reader.connection_lost()
        for _ in range(2):
            assert await reader.read() == piece
        assert await reader.read() is None and await reader.read() is None and reader.lost.is_set()
    asyncio.run(main())
