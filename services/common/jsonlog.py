"""A container's log in Docker's json-file format: one {"log","stream","attrs","time"} object
a line, and the one reader of it (logs, followed or not, and attach).

Output is split at newlines; a chunk without one is written as a partial entry, so
joining the `log` values of a stream gives back its bytes exactly (bytes that are not
UTF-8 travel as surrogate escapes). A log may be several files (rotated ones, oldest
first, then the one written): the reader goes from one to the next (`Segment`s of a view).
"""

from __future__ import annotations

import calendar
import functools
import json
import os
from typing import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Protocol

from . import logdrivers, timefmt

STREAMS = {1: "stdout", 2: "stderr"}
FDS = {"stdout": 1, "stderr": 2}
# A log is read this much at a time, so a long one is never held in memory whole.
READ_PIECE = 1 << 20
# Consecutive entries of a stream travel together up to this much.
MESSAGE_SIZE = 64 << 10
# The chunk a follower sends first (read's `started`): no entry.
STARTED = {"fd": 0, "sizes": []}


def attrs_json(attrs: dict | None) -> str:
    """The `"attrs":{...},` member every entry of a log with attributes carries ("" without)."""
    return f'"attrs":{json.dumps(attrs, sort_keys=True, separators=(",", ":"))},' if attrs else ""


def entries(fd: int, data: bytes, when: str | None = None, attrs: str = "") -> list[bytes]:
    """The log lines for one chunk of output on fd 1 or 2 (`attrs` from attrs_json)."""
    when = when or timefmt.now()
    tail = f',"stream":"{STREAMS[fd]}",{attrs}"time":"{when}"}}\n'
    return [('{"log":' + json.dumps(piece.decode("utf-8", "surrogateescape")) + tail).encode()
            for piece in data.splitlines(keepends=True)]


def encode(fd: int, data: bytes, when: str | None = None, attrs: str = "") -> bytes:
    return b"".join(entries(fd, data, when, attrs))


@functools.lru_cache(maxsize=256)
def _epoch(prefix: str) -> int:
    return calendar.timegm((int(prefix[0:4]), int(prefix[5:7]), int(prefix[8:10]), int(prefix[11:13]),
                            int(prefix[14:16]), int(prefix[17:19])))


def time_ns(when: str) -> int:
    """An entry's time (RFC 3339, as Docker writes it) in unix nanoseconds; 0 if unreadable."""
    try:
        if len(when) >= 20 and when[10] == "T" and when.endswith("Z"):
            frac = when[20:-1] if when[19] == "." else ""
            return _epoch(when[:19]) * 1_000_000_000 + int((frac + "000000000")[:9] or 0)
        dt = timefmt.parse(when)
        return int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000
    except (ValueError, IndexError):
        return 0


def parse(data: bytes) -> Iterator[tuple[int, bytes, str, dict | None]]:
    """(fd, bytes, time, attrs) entries of the complete lines in `data`."""
    lines = data.split(b"\n")
    lines.pop()  # empty after a final newline, or a line still being written
    for line in lines:
        try:
            entry = json.loads(line)
            fd = FDS[entry["stream"]]
            raw = entry["log"].encode("utf-8", "surrogateescape")
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        yield fd, raw, entry.get("time") or "", entry.get("attrs")


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


def tail_offset(fd: int, upto: int, lines: int) -> tuple[int, int]:
    """Where the last `lines` complete lines before `upto` begin, read backwards in pieces,
    and how many there are (fewer when the file holds fewer)."""
    newlines, pos = 0, upto
    while pos > 0:
        start = max(0, pos - READ_PIECE)
        data = os.pread(fd, pos - start, start)
        i = len(data)
        while (i := data.rfind(b"\n", 0, i)) >= 0:
            newlines += 1  # the first ends the last complete line; each after, a line earlier
            if newlines == lines + 1:
                return start + i + 1, lines
        pos = start
    return 0, newlines


# ------------------------------------------------------------------- the files of a log

class Segment:
    """One file of a log, open for reading up to `end` (None: to its end as it grows). Its fd
    may be made at first use (`opener`: a rotated file kept gzipped is decompressed), in a
    worker thread so that the loop goes on meanwhile: `opened()` before reading it."""

    def __init__(self, fd: int = -1, end: int | None = None, opener: Callable[[], int] | None = None):
        self._fd, self.end, self._opener = fd, end, opener
        self._opening: asyncio.Future | None = None
        self._closed = False

    @property
    def fd(self) -> int:
        return self._fd

    async def opened(self) -> int:
        """Its fd, made once however many readers wait for it (one leaving does not stop it)."""
        import asyncio   # (here: the shim's launcher, which loads this module, loads no asyncio)
        if self._fd < 0 and self._opener is not None and not self._closed:
            if self._opening is None:
                self._opening = asyncio.ensure_future(asyncio.to_thread(self._opener))
                self._opening.add_done_callback(self._made)
            await asyncio.shield(self._opening)
        return self._fd

    def _made(self, opening: asyncio.Future) -> None:
        if not opening.cancelled() and opening.exception() is None:
            self._fd = opening.result()
            if self._closed:
                self.close()

    def limit(self) -> int:
        return self.end if self.end is not None else os.fstat(self.fd).st_size

    def close(self) -> None:
        """Close it (its fd still being made: once it is)."""
        self._closed = True
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class View(Protocol):
    """The files of a log as a reader sees them: the ones there now (oldest first), the one
    after a given one (None: it is the last, and may grow), and which one the reader is in
    (a writer keeps a file it has rotated away for a reader still in it or before it)."""

    def segments(self) -> list[Segment]: ...
    def after(self, segment: Segment) -> Segment | None: ...
    def hold(self, segment: Segment) -> None: ...


class Stored:
    """A log's files as they were when opened (services.common.logfiles.open_stored)."""

    def __init__(self, files: list[Segment]):
        self.files = files

    def segments(self) -> list[Segment]:
        return self.files

    def after(self, segment: Segment) -> Segment | None:
        i = self.files.index(segment)
        return self.files[i + 1] if i + 1 < len(self.files) else None

    def hold(self, segment: Segment) -> None:
        pass

    def close(self) -> None:
        for segment in self.files:
            segment.close()


async def tail_start(files: list[Segment], lines: int) -> tuple[Segment, int]:
    """The file and offset where the last `lines` complete lines of a log begin."""
    for segment in reversed(files):
        offset, found = tail_offset(await segment.opened(), segment.limit(), lines)
        lines -= found
        if lines <= 0 or segment is files[0]:
            return segment, offset
    return files[0], 0


# ------------------------------------------------------------------------ reading

class _Window:
    """Docker's since and until (loggerutils forwarder): entries before `since` are skipped
    until the first one at or after it; the first one after `until` ends the read."""

    def __init__(self, since_ns: int, until_ns: int):
        self.since, self.until, self.ended = since_ns, until_ns, False

    def admits(self, when: str) -> bool:
        if not (self.since or self.until):
            return True
        ts = time_ns(when)
        if self.since:
            if ts < self.since:
                return False
            self.since = 0
        if self.until and ts > self.until:
            self.ended = True
            return False
        return True


def chunks(entries_: Iterable[tuple[int, bytes, str, dict | None]], wanted: set[int], window: _Window, *,
           timestamps: bool = False, details: bool = False, tty: bool = False) -> Iterator[tuple[int, bytes, list]]:
    """(fd, bytes, sizes) of the wanted entries in the window, each after its time and
    attributes as asked, consecutive ones of a stream joined (a program that prints lines
    would otherwise cost a message a line). With a terminal there is one stream, 0."""
    fd, parts, sizes, size = None, [], [], 0
    prefixes: dict = {}
    for entry_fd, raw, when, attrs in entries_:
        if window.ended or not window.admits(when):
            if window.ended:
                break
            continue
        if tty:
            if not wanted:
                continue
            entry_fd = 0
        elif entry_fd not in wanted:
            continue
        if details:
            key = tuple(sorted(attrs.items())) if attrs else ()
            if key not in prefixes:
                prefixes[key] = logdrivers.details_prefix(attrs)
            raw = prefixes[key] + raw
        if timestamps:
            raw = when.encode() + b" " + raw
        if parts and (entry_fd != fd or size >= MESSAGE_SIZE):
            yield fd, b"".join(parts), sizes
            parts, sizes, size = [], [], 0
        fd = entry_fd
        parts.append(raw)
        sizes.append(len(raw))
        size += len(raw)
    if parts:
        yield fd, b"".join(parts), sizes


async def read(view: View, wanted: set[int], *, at_end: bool = False, tail: int = -1, since_ns: int = 0,
               until_ns: int = 0, timestamps: bool = False, details: bool = False, tty: bool = False,
               grew: Callable[[], Awaitable[bool]] | None = None, started: bool = False
               ) -> AsyncIterator[tuple[dict, bytes]]:
    """({"fd", "sizes"}, bytes) chunks of a log: from its first file's start, its end now
    (`at_end`) or its last `tail` lines, to the end of its last file, and with `grew`, on as
    it grows: `grew()` waits until it has grown or rotated (True) or will not any more (False).
    With `started`, an empty chunk (STARTED) first, once where it starts is fixed: a follower's
    caller knows from it that nothing written after it is missed."""
    files = view.segments()
    if not files:
        if started:
            yield STARTED, b""
        return
    if at_end:
        segment, offset = files[-1], -1
    elif tail >= 0:
        view.hold(files[0])   # the files it may begin in, kept while they are opened
        segment, offset = await tail_start(files, tail)
    else:
        segment, offset = files[0], 0
    view.hold(segment)
    await segment.opened()
    if at_end:
        offset = segment.limit()
    if started:
        yield STARTED, b""
    window = _Window(since_ns, until_ns)
    while True:
        data, offset = read_lines(segment.fd, offset, segment.end)
        if data:
            for fd, chunk, sizes in chunks(parse(data), wanted, window, timestamps=timestamps,
                                           details=details, tty=tty):
                yield {"fd": fd, "sizes": sizes}, chunk
            if window.ended:
                return
            continue
        # This file is read to its end: on to the next, or wait for more.
        following = view.after(segment)
        if following is not None:
            segment, offset = following, 0
            view.hold(segment)
            await segment.opened()
            continue
        if grew is None or not await grew():
            return
