"""The files of a container's log on disk, as Docker names them (loggerutils/logfile.go):
`<path>` is written; once it is full it becomes `<path>.1` (gzipped: `<path>.1.gz`), `.1`
becomes `.2`, and so on, the oldest beyond max-file removed. The shim rotates (`shift`,
`compress`); readers open them all (`open_stored`), oldest first.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
import zlib

from . import logdrivers
from .jsonlog import Segment, Stored

# A reader scans this many rotated files when it is not told how many there may be.
MAX_ROTATED = 1000


def path_of(files: dict, driver: str) -> str:
    """The file the shim writes the log of a container with this driver to ("" for none), of
    its container_files.paths."""
    if driver == logdrivers.LOCAL:
        return files["local_log"]
    return "" if driver == logdrivers.NONE else files["log"]


def rotated(path: str, index: int, compressed: bool = False) -> str:
    return f"{path}.{index}" + (".gz" if compressed else "")


def shift(path: str, max_file: int, compress: bool) -> None:
    """Make room for `<path>.1`: the oldest rotated file removed, each other one moved one on.
    A file missing is no error (a rotation cut short by a crash)."""
    if max_file < 2:
        return
    _unlink(rotated(path, max_file - 1, compress))
    for index in range(max_file - 1, 1, -1):
        try:
            os.rename(rotated(path, index - 1, compress), rotated(path, index, compress))
        except FileNotFoundError:
            pass


class Compression:
    """Gzipping a rotated file into `<path>.gz` a piece at a time (the shim runs it in a worker
    thread): written aside and renamed into place, then the plain file removed, so that at
    every moment a reader finds one whole copy (the plain one first)."""

    PIECE = 256 << 10

    def __init__(self, path: str):
        self.path, self.tmp = path, path + ".gz.tmp"
        self.src = open(path, "rb")
        try:
            self.raw = open(self.tmp, "wb")
        except BaseException:
            self.src.close()
            raise
        self.out = gzip.GzipFile(fileobj=self.raw, mode="wb", compresslevel=6, mtime=0)

    def step(self) -> bool:
        """Compress a piece; True once the whole file is done."""
        try:
            data = self.src.read(self.PIECE)
            if data:
                self.out.write(data)
                return False
            self.out.close()
            self.raw.flush()
            os.fsync(self.raw.fileno())
            self.raw.close()
            self.src.close()
            os.replace(self.tmp, self.path + ".gz")
        except BaseException:
            self.abandon()
            raise
        _unlink(self.path)
        return True

    def run(self) -> None:
        while not self.step():
            pass

    def abandon(self) -> None:
        """Leave the plain file as it is."""
        for fh in (self.out, self.raw, self.src):
            try:
                fh.close()
            except (OSError, ValueError):
                pass
        _unlink(self.tmp)


def compress(path: str) -> None:
    """Gzip a rotated file into `<path>.gz` at once (nothing if it is gone)."""
    try:
        job = Compression(path)
    except FileNotFoundError:
        return
    job.run()


def decompressed(path: str, tmp_dir: str) -> int:
    """An fd of a gzipped rotated file's content, in an unnamed file under `tmp_dir`."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return unpacked(fd, tmp_dir)
    finally:
        os.close(fd)


def unpacked(fd: int, tmp_dir: str) -> int:
    """An fd of the content of the gzipped file open at `fd` (left open), in an unnamed file
    under `tmp_dir`. Slow for a large one: not in a loop."""
    os.lseek(fd, 0, os.SEEK_SET)
    with open(fd, "rb", closefd=False) as raw, gzip.GzipFile(fileobj=raw, mode="rb") as src, \
            tempfile.TemporaryFile(dir=tmp_dir) as out:
        shutil.copyfileobj(src, out, 1 << 20)
        out.flush()
        return os.dup(out.fileno())


def open_rotated(path: str, index: int, tmp_dir: str) -> int:
    """An fd of rotated file `index`, plain or gzipped (the plain one first: its compression
    removes it only once the gzipped one is whole); FileNotFoundError if it has neither."""
    try:
        return os.open(rotated(path, index), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return decompressed(rotated(path, index, True), tmp_dir)


def open_stored(path: str, max_file: int, tmp_dir: str) -> Stored:
    """A log's files as they are now, oldest first, each up to its size now. Opened newest
    first, and a file seen twice (a rotation while they are opened moves it to the next
    name) taken once, so they come in order and none is read twice."""
    files: list[Segment] = []
    seen: set[tuple[int, int]] = set()
    bound = max_file if max_file > 0 else MAX_ROTATED

    def take(fd: int) -> None:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) in seen:
            os.close(fd)
            return
        seen.add((st.st_dev, st.st_ino))
        files.append(Segment(fd, end=st.st_size))
    try:
        try:
            take(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
        except FileNotFoundError:
            pass
        missing = 0
        for index in range(1, bound):
            try:
                take(open_rotated(path, index, tmp_dir))
                missing = 0
            except FileNotFoundError:
                missing += 1
                if missing == 2:
                    break   # past the oldest: a rotation under way leaves one name empty at most
            except (EOFError, gzip.BadGzipFile, zlib.error):
                missing = 0   # a damaged gzipped file is passed over
    except BaseException:
        Stored(files).close()
        raise
    files.reverse()
    return Stored(files)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
