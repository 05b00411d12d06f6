"""A container's log in Docker's json-file format: one {"log","stream","time"} object a line.

Output is split at newlines; a chunk without one is written as a partial entry, so
joining the `log` values of a stream gives back its bytes exactly (bytes that are not
UTF-8 travel as surrogate escapes).
"""

from __future__ import annotations

import json
import os
from typing import AsyncIterator, Awaitable, Callable, Iterable, Iterator

from . import timefmt

STREAMS = {1: "stdout", 2: "stderr"}
FDS = {"stdout": 1, "stderr": 2}
# A log is read this much at a time, so a long one is never held in memory whole.
READ_PIECE = 1 << 20
# Consecutive entries of a stream travel together up to this much.
MESSAGE_SIZE = 64 << 10


def encode(fd: int, data: bytes, when: str | None = None) -> bytes:
    """The log lines for one chunk of output on fd 1 or 2."""
    when = when or timefmt.now()
    stream = STREAMS[fd]
    out = []
    for piece in data.splitlines(keepends=True):
        text = piece.decode("utf-8", "surrogateescape")
        out.append(json.dumps({"log": text, "stream": stream, "time": when}) + "\n")
    return "".join(out).encode()


def parse(data: bytes, since: float = 0, until: float = 0, tail: int = -1) -> Iterator[tuple[int, bytes, str]]:
    """(fd, bytes, time) entries of the complete lines in `data`."""
    lines = data.split(b"\n")
    lines.pop()  # empty after a final newline, or a line still being written
    if tail >= 0:
        lines = lines[len(lines) - tail:] if tail else []
    for line in lines:
        try:
            entry = json.loads(line)
            fd = FDS[entry["stream"]]
            when = entry.get("time", "")
            raw = entry["log"].encode("utf-8", "surrogateescape")
        except (ValueError, KeyError, TypeError):
            continue
        if since or until:
            ts = timefmt.parse(when).timestamp() if when else 0
            if since and ts < since:
                continue
            if until and ts > until:
                continue
        yield fd, raw, when


def read_lines(fd: int, offset: int, upto: int | None = None) -> tuple[bytes, int]:
    """Complete lines of an open log from `offset` (about READ_PIECE of them, up to `upto`
    or the current end) and the offset just past them; b"" when none is complete yet."""
    end = os.fstat(fd).st_size if upto is None else upto
    if end <= offset:
        return b"", offset
    data = os.pread(fd, min(end - offset, READ_PIECE), offset)
    whole = data.rfind(b"\n") + 1
    if not whole and end - offset > len(data):  # one line longer than a piece
        data = os.pread(fd, end - offset, offset)
        whole = data.rfind(b"\n") + 1
    return data[:whole], offset + whole


def tail_offset(fd: int, upto: int, lines: int) -> int:
    """Where the last `lines` complete lines before `upto` begin, read backwards in pieces."""
    newlines, pos = 0, upto
    while pos > 0:
        start = max(0, pos - READ_PIECE)
        data = os.pread(fd, pos - start, start)
        i = len(data)
        while (i := data.rfind(b"\n", 0, i)) >= 0:
            newlines += 1  # the first ends the last complete line; each after, a line earlier
            if newlines == lines + 1:
                return start + i + 1
        pos = start
    return 0


def coalesce(entries: Iterable[tuple[int, bytes, str]], fds: set[int], tty: bool = False
             ) -> Iterator[tuple[int, bytes]]:
    """(fd, bytes) of the wanted entries, consecutive ones of a stream joined: a program that
    prints lines would otherwise cost a message a line. With a terminal there is one stream, 0."""
    fd, parts, size = None, [], 0
    for entry_fd, chunk, _ in entries:
        if tty:
            if not fds:
                continue
            entry_fd = 0
        elif entry_fd not in fds:
            continue
        if parts and (entry_fd != fd or size >= MESSAGE_SIZE):
            yield fd, b"".join(parts)
            parts, size = [], 0
        fd = entry_fd
        parts.append(chunk)
        size += len(chunk)
    if parts:
        yield fd, b"".join(parts)


async def read(fd: int, wanted: set[int], *, start: int | None = 0, tail: int = -1, since: float = 0,
               until: float = 0, timestamps: bool = False, tty: bool = False,
               grew: Callable[[], Awaitable[bool]] | None = None) -> AsyncIterator[tuple[dict, bytes]]:
    """({"fd", "time"}, bytes) chunks of the open log `fd`: from offset `start` (None: its
    current end) or its last `tail` lines, up to its end, and with `grew`, on as it grows:
    `grew()` waits until it has grown (True) or will not any more (False). The one reader
    behind logs, followed or not, and attach. Without `timestamps`, consecutive entries of
    a stream come as one chunk ("time" empty); with a terminal, as stream 0."""
    end = os.fstat(fd).st_size
    offset = end if start is None else start
    if tail >= 0:
        offset = tail_offset(fd, end, tail)
    upto = None if grew is not None else end
    while True:
        data, offset = read_lines(fd, offset, upto)
        if data:
            entries = parse(data, since, until)
            if timestamps:
                for entry_fd, chunk, when in entries:
                    if entry_fd in wanted:
                        yield {"fd": entry_fd, "time": when}, chunk
            else:
                for entry_fd, chunk in coalesce(entries, wanted, tty):
                    yield {"fd": entry_fd, "time": ""}, chunk
            continue
        # Everything written up to here is read: what comes next wakes `grew`.
        if grew is None or not await grew():
            return
