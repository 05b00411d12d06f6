"""A container's log in Docker's json-file format: one {"log","stream","time"} object a line.

Output is split at newlines; a chunk without one is written as a partial entry, so
joining the `log` values of a stream gives back its bytes exactly (bytes that are not
UTF-8 travel as surrogate escapes).
"""

from __future__ import annotations

import json
import os
from typing import Iterator

from . import timefmt

STREAMS = {1: "stdout", 2: "stderr"}
FDS = {"stdout": 1, "stderr": 2}


def encode(fd: int, data: bytes, when: str | None = None) -> bytes:
    """The log lines for one chunk of output on fd 1 or 2."""
    when = when or timefmt.now()
    stream = STREAMS[fd]
    out = []
    for piece in data.splitlines(keepends=True):
        text = piece.decode("utf-8", "surrogateescape")
        out.append(json.dumps({"log": text, "stream": stream, "time": when}) + "\n")
    return "".join(out).encode()


def read(path: str, upto: int | None = None, since: float = 0, until: float = 0,
         tail: int = -1, start: int = 0) -> Iterator[tuple[int, bytes, str]]:
    """(fd, bytes, time) entries of the complete lines between byte offsets `start` and `upto`."""
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return
    with fh:
        fh.seek(start)
        data = fh.read(upto - start) if upto is not None else fh.read()
    yield from parse(data, since, until, tail)


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


def complete_size(path: str, upto: int, start: int = 0) -> int:
    """The offset just past the last complete line before `upto` (a line may be half-written)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(start)
            data = fh.read(upto - start)
    except FileNotFoundError:
        return start
    return start + data.rfind(b"\n") + 1


def size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0
