"""The container's log as its shim keeps it: every line of output written, rotated when full
(max-size, max-file, rotated files gzipped), and followed by whoever reads it in the shim.

The files of the log are a chain, oldest first, the last the one written. A rotation is
the writer's (it happens between two entries, so every file ends with a whole line): the
written file becomes `.1` and a new one is begun. A reader in the shim (`Reader`) goes
through the chain; a file rotated away (removed from disk, beyond max-file) is kept open
while a reader is still in it or before it, so a slow reader never loses a line. With the
`none` driver the chain is in memory (memfds, two of 1 MiB), for attach only.

Gzip is slow: a rotated file is compressed, and one kept gzipped decompressed, in a worker
thread, never in the shim's loop. A rotation due while the file before is still being
compressed waits for it (it would move that file under its compression): the entries already
read wait with it, in memory, and the shim reads no more of the container's output (`held`)
until they are written, as Docker's log writer waits for the compression.
"""

from __future__ import annotations

import logging
import os
import zlib

from services.common import jsonlog, logdrivers, logfiles

log = logging.getLogger("shim")


class Generation(jsonlog.Segment):
    """One file of the log: `index` its rotation number on disk (0: the one written);
    `gone` once it is no longer there (removed, or in memory beyond the two kept). A rotated
    file found gzipped when the shim starts is held open as it is (`packed`: no rotation can
    take it from a reader then) and decompressed at its first read."""

    def __init__(self, seq: int, index: int, fd: int = -1, packed: int = -1, tmp_dir: str = ""):
        super().__init__(fd, None, self._unpack if packed >= 0 else None)
        self.seq, self.index, self.gone = seq, index, False
        self.packed, self.tmp_dir = packed, tmp_dir

    def _unpack(self) -> int:
        """(In a worker thread, once: the packed fd is its own then.)"""
        try:
            return logfiles.unpacked(self.packed, self.tmp_dir)
        except (OSError, EOFError, zlib.error) as exc:
            log.warning("reading the rotated log %s: %s", self.index, exc)
            return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        finally:
            os.close(self.packed)

    def close(self) -> None:
        super().close()
        if self.packed >= 0 and self._opening is None:   # never decompressed
            os.close(self.packed)
            self.packed = -1


class ShimLog:
    def __init__(self, settings: dict, path: str, tmp_dir: str):
        self.memory = settings["driver"] == logdrivers.NONE
        self.max_size, self.max_file = settings["max_size"], max(1, settings["max_file"])
        self.compress = settings["compress"] and self.max_file > 1 and not self.memory
        self.attrs = jsonlog.attrs_json(settings["attrs"])
        self.path, self.tmp_dir = path, tmp_dir
        self.chain: list[Generation] = []
        self.readers: set[Reader] = set()
        self.write_fd = -1
        self.size = 0
        self.seq = 0
        self.compression = None   # asyncio.Future: `.1` being gzipped in a worker thread
        self.held = None          # asyncio.Future: a rotation waits for that; output should too
        self.waiting: list[bytes] = []   # the entries after that rotation, meanwhile

    # ------------------------------------------------------------------ opening

    def open(self) -> None:
        """Open (or make) the log; a restarted container's goes on where it was."""
        if self.memory:
            self.write_fd = os.memfd_create("log", os.MFD_CLOEXEC)
            self.chain.append(Generation(self._next_seq(), 0, os.dup(self.write_fd)))
            return
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        # A compression a crash cut short (<log>.<n>.tmp): its plain file is still there.
        # (Listed, not globbed: a glob compiles a pattern, a fifth of a millisecond per start.)
        directory, base = os.path.split(self.path)
        for name in os.listdir(directory):
            if name.startswith(base + ".") and name.endswith(".tmp") and len(name) > len(base) + 5:
                os.unlink(os.path.join(directory, name))
        for index in range(self.max_file - 1, 0, -1):
            plain = logfiles.rotated(self.path, index)
            if self.compress and os.path.exists(plain):
                logfiles.compress(plain)   # left plain by a crash: rotations move only .gz ones
            if os.path.exists(plain):
                self.chain.append(Generation(self._next_seq(), index, os.open(plain, os.O_RDONLY | os.O_CLOEXEC)))
            elif os.path.exists(logfiles.rotated(self.path, index, True)):
                packed = os.open(logfiles.rotated(self.path, index, True), os.O_RDONLY | os.O_CLOEXEC)
                self.chain.append(Generation(self._next_seq(), index, packed=packed, tmp_dir=self.tmp_dir))
        self._begin(os.O_APPEND)

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def _begin(self, flag: int) -> None:
        """Open the file to write (O_APPEND: as it is; O_TRUNC: a new one) and its chain link."""
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | flag, 0o640)
        try:
            reader = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except BaseException:
            os.close(fd)
            raise
        if self.write_fd >= 0:
            os.close(self.write_fd)
        self.write_fd = fd
        self.size = os.fstat(fd).st_size
        self.chain.append(Generation(self._next_seq(), 0, reader))

    # ------------------------------------------------------------------ writing

    def write(self, fd: int, data: bytes) -> None:
        """Log a chunk of output of stream `fd` (1, 2), rotating between entries when the file
        is full, as Docker does before an entry once the file has max-size bytes (and the file
        before is compressed: else `held`). OSError if it cannot be written (a full disk): the
        caller drops the output, never blocks on it."""
        lines = jsonlog.entries(fd, data, attrs=self.attrs)
        if self.waiting:
            self.waiting += lines
        else:
            self._write(lines)

    def _write(self, lines: list[bytes]) -> None:
        batch: list[bytes] = []
        try:
            for i, line in enumerate(lines):
                if self._full():
                    self._flush(batch)
                    batch = []
                    if self.compression is not None:
                        self._hold(lines[i:])
                        return
                    self._rotate()
                batch.append(line)
                self.size += len(line)
            self._flush(batch)
        except OSError:
            self.size = os.fstat(self.write_fd).st_size
            raise

    def _full(self) -> bool:
        return 0 <= self.max_size <= self.size and self.size > 0

    def _flush(self, batch: list[bytes]) -> None:
        if batch:
            os.write(self.write_fd, b"".join(batch))

    def _rotate(self) -> None:
        """(Never while `.1` is being compressed: this moves it on.)"""
        if self.memory:
            fd = os.memfd_create("log", os.MFD_CLOEXEC)
            os.close(self.write_fd)
            self.write_fd, self.size = fd, 0
            self.chain.append(Generation(self._next_seq(), 0, os.dup(fd)))
        else:
            try:
                if self.max_file > 1:
                    logfiles.shift(self.path, self.max_file, self.compress)
                    os.rename(self.path, logfiles.rotated(self.path, 1))
                else:
                    os.unlink(self.path)
            except OSError as exc:
                # As Docker: the file is begun again anyway (what it held is lost to new readers).
                log.warning("rotating the log: %s", exc)
            self._begin(os.O_TRUNC)
        for gen in self.chain[:-1]:
            if not gen.gone:
                gen.index += 1
                gen.gone = gen.index >= self.max_file
        if self.compress:
            self._start_compression()
        self.prune()

    def _start_compression(self) -> None:
        import asyncio   # (rotations happen in the shim's loop; the launcher loads no asyncio)
        try:
            job = logfiles.Compression(logfiles.rotated(self.path, 1))
        except OSError as exc:
            log.warning("compressing the rotated log: %s", exc)
            return
        try:
            self.compression = asyncio.get_running_loop().run_in_executor(None, self._compress, job)
        except RuntimeError:   # no loop to keep going (not serving yet, or no longer): at once
            self._compress(job)
            return
        self.compression.add_done_callback(self._compressed)

    @staticmethod
    def _compress(job: logfiles.Compression) -> None:
        try:
            job.run()
        except OSError as exc:
            log.warning("compressing the rotated log: %s", exc)

    def _hold(self, lines: list[bytes]) -> None:
        import asyncio
        self.waiting = lines
        if self.held is None:
            self.held = asyncio.get_running_loop().create_future()

    def _compressed(self, _job) -> None:
        """`.1` is gzipped: the rotation that waited for it is done now, and the entries after
        it written (unless they wait for this rotation's compression in turn)."""
        self.compression = None
        lines, self.waiting = self.waiting, []
        if not lines:
            return
        try:
            self._write(lines)
        except OSError as exc:
            log.warning("the log cannot be written (%s): output is dropped", exc)
        if not self.waiting:
            held, self.held = self.held, None
            held.set_result(None)

    # ------------------------------------------------------------------ reading

    def reader(self) -> "Reader":
        return Reader(self)

    def prune(self) -> None:
        """Close the files gone from the chain that no reader is in or before."""
        held = min((r.gen.seq for r in self.readers if r.gen is not None), default=None)
        while self.chain[0].gone and (held is None or self.chain[0].seq < held):
            self.chain.pop(0).close()


class Reader:
    """A reader's view of the log (jsonlog.View): close it when done."""

    def __init__(self, log_: ShimLog):
        self.log = log_
        self.gen: Generation | None = None
        log_.readers.add(self)

    def segments(self) -> list[jsonlog.Segment]:
        return [gen for gen in self.log.chain if not gen.gone]

    def after(self, segment: jsonlog.Segment) -> jsonlog.Segment | None:
        chain = self.log.chain
        i = chain.index(segment)
        return chain[i + 1] if i + 1 < len(chain) else None

    def hold(self, segment: jsonlog.Segment) -> None:
        self.gen = segment
        self.log.prune()

    def close(self) -> None:
        self.log.readers.discard(self)
        self.log.prune()
