"""The shim's log writer: rotation by max-size and max-file as Docker names the files, gzipped
rotated files, a log begun again after a restart, readers that follow across rotations and
keep what they still read, the in-memory log of the none driver; and reading the files back."""

import asyncio
import gzip
import os
import threading

import pytest

from services.common import jsonlog, logfiles
from services.shim.logwriter import ShimLog
from services.shim.shim import Shim

from ..polling import eventually

LINE = len(jsonlog.encode(1, b"00\n"))   # every line of these tests is this long


async def _no_more() -> bool:
    """The shim's `grew` for a log that will not grow any more: the reader ends at its end."""
    return False


def settings(max_size=-1, max_file=1, compress=False, driver="json-file", attrs=None) -> dict:
    return {"driver": driver, "max_size": max_size, "max_file": max_file, "compress": compress,
            "attrs": attrs or {}}


def new_log(tmp_path, **kw) -> ShimLog:
    log = ShimLog(settings(**kw), str(tmp_path / "c" / "c-json.log"), str(tmp_path))
    log.open()
    return log


def write(log: ShimLog, numbers) -> None:
    for n in numbers:
        log.write(1, b"%02d\n" % n)


def on_disk(path: str) -> dict[str, list[bytes]]:
    """Each file of the log there is: its lines."""
    out = {}
    for name in sorted(os.listdir(os.path.dirname(path))):
        if name.endswith(".tmp"):
            continue   # a compression under way
        full = os.path.join(os.path.dirname(path), name)
        data = gzip.open(full).read() if name.endswith(".gz") else open(full, "rb").read()
        out[name] = [d for _, d, _, _ in jsonlog.parse(data)]
    return out


def read_stored(path: str, max_file: int, tmp_path, **query) -> bytes:
    view = logfiles.open_stored(path, max_file, str(tmp_path))

    async def go():
        return b"".join([data async for _, data in jsonlog.read(view, {1, 2}, **query)])
    try:
        return asyncio.run(go())
    finally:
        view.close()


def lines(*numbers) -> list[bytes]:
    return [b"%02d\n" % n for n in numbers]


def test_a_full_file_is_rotated_before_the_next_entry_and_the_oldest_removed(tmp_path):
    log = new_log(tmp_path, max_size=3 * LINE, max_file=3)
    write(log, range(10))
    assert on_disk(log.path) == {"c-json.log": lines(9), "c-json.log.1": lines(6, 7, 8),
                                 "c-json.log.2": lines(3, 4, 5)}
    assert read_stored(log.path, 3, tmp_path) == b"".join(lines(*range(3, 10)))
    assert read_stored(log.path, 3, tmp_path, tail=5) == b"".join(lines(*range(5, 10)))


def test_one_chunk_of_many_lines_is_split_across_files(tmp_path):
    log = new_log(tmp_path, max_size=2 * LINE, max_file=2)
    log.write(1, b"".join(lines(*range(5))))
    assert on_disk(log.path) == {"c-json.log": lines(4), "c-json.log.1": lines(2, 3)}


def test_max_file_one_begins_the_file_again(tmp_path):
    log = new_log(tmp_path, max_size=2 * LINE, max_file=1)
    write(log, range(5))
    assert on_disk(log.path) == {"c-json.log": lines(4)}


def test_without_max_size_nothing_rotates(tmp_path):
    log = new_log(tmp_path, max_file=3)
    write(log, range(50))
    assert list(on_disk(log.path)) == ["c-json.log"]


def test_rotated_files_are_gzipped_and_read_back(tmp_path):
    log = new_log(tmp_path, max_size=2 * LINE, max_file=3, compress=True)
    write(log, range(7))   # no loop runs: each compression is done at once
    assert on_disk(log.path) == {"c-json.log": lines(6), "c-json.log.1.gz": lines(4, 5),
                                 "c-json.log.2.gz": lines(2, 3)}
    assert read_stored(log.path, 3, tmp_path) == b"".join(lines(*range(2, 7)))


def blocked_until(release: threading.Event, started: threading.Event | None = None):
    """A stand-in for a slow step that waits for the test to release it: were it run in the
    loop, the loop could not release it, and it fails after 10 s."""
    def wait() -> None:
        if started is not None:
            started.set()
        assert release.wait(10), "the loop was blocked"
    return wait


def test_compression_is_done_off_the_loop_and_the_next_rotation_waits_for_it(tmp_path, monkeypatch):
    release = threading.Event()
    real_run = logfiles.Compression.run
    wait = blocked_until(release)
    monkeypatch.setattr(logfiles.Compression, "run", lambda job: (wait(), real_run(job)))

    async def go():
        log = new_log(tmp_path, max_size=3 * LINE, max_file=3, compress=True)
        write(log, range(4))
        assert log.compression is not None   # under way, in a worker thread
        write(log, range(4, 7))   # the next rotation is due before 6: it waits, and 6 with it
        assert not log.held.done()
        assert on_disk(log.path) == {"c-json.log": lines(3, 4, 5), "c-json.log.1": lines(0, 1, 2)}
        release.set()
        await log.held            # the rotation is done, then 6 written
        await eventually(lambda: log.compression is None, what="the second compression")
        assert on_disk(log.path) == {"c-json.log": lines(6), "c-json.log.1.gz": lines(3, 4, 5),
                                     "c-json.log.2.gz": lines(0, 1, 2)}
        write(log, [7])
        view = log.reader()
        try:
            return b"".join([data async for _, data in jsonlog.read(view, {1})])
        finally:
            view.close()
    assert asyncio.run(go()) == b"".join(lines(*range(8)))


def test_a_restarted_container_goes_on_with_its_log_and_its_rotation(tmp_path):
    log = new_log(tmp_path, max_size=3 * LINE, max_file=3, compress=True)
    write(log, range(5))
    again = new_log(tmp_path, max_size=3 * LINE, max_file=3, compress=True)
    assert [gen.index for gen in again.chain] == [1, 0] and again.size == 2 * LINE
    write(again, range(5, 8))   # 5 fills the file begun before, 6 begins the next
    assert on_disk(log.path) == {"c-json.log": lines(6, 7), "c-json.log.1.gz": lines(3, 4, 5),
                                 "c-json.log.2.gz": lines(0, 1, 2)}

    async def everything():
        view = again.reader()
        try:
            return b"".join([data async for _, data in jsonlog.read(view, {1})])
        finally:
            view.close()
    assert asyncio.run(everything()) == b"".join(lines(*range(8)))


def test_the_shim_reads_no_output_while_a_rotation_waits_for_a_compression(tmp_path, monkeypatch):
    """The container waits then, as Docker's log writer makes it: what was read already
    waits in memory, and nothing is lost or out of order."""
    release = threading.Event()
    real_run = logfiles.Compression.run
    wait = blocked_until(release)
    monkeypatch.setattr(logfiles.Compression, "run", lambda job: (wait(), real_run(job)))

    async def go():
        loop = asyncio.get_running_loop()
        shim = Shim.__new__(Shim)   # only what reads the output into the log
        shim.log = new_log(tmp_path, max_size=2 * LINE, max_file=3, compress=True)
        out_r, out_w = os.pipe()
        os.set_blocking(out_r, False)
        shim.outputs, shim.log_failing = {out_r: 1}, False
        shim.log_grew, shim.output_done = asyncio.Event(), asyncio.Event()
        loop.add_reader(out_r, shim._readable, out_r)
        os.write(out_w, b"".join(lines(0, 1, 2)))   # a rotation: .1 being gzipped
        await eventually(lambda: shim.log.compression is not None, what="the compression")
        os.write(out_w, b"".join(lines(3, 4)))      # the next rotation is due before 4
        held = await eventually(lambda: shim.log.held, what="the rotation to wait")
        os.write(out_w, b"".join(lines(5)))
        os.close(out_w)
        assert not loop.remove_reader(out_r)        # not read meanwhile
        assert on_disk(shim.log.path) == {"c-json.log": lines(2, 3), "c-json.log.1": lines(0, 1)}
        release.set()
        await held
        await asyncio.wait_for(shim.output_done.wait(), 10)
        await eventually(lambda: shim.log.compression is None, what="the last compression")
        assert on_disk(shim.log.path) == {"c-json.log": lines(4, 5), "c-json.log.1.gz": lines(2, 3),
                                          "c-json.log.2.gz": lines(0, 1)}
    asyncio.run(go())


@pytest.mark.parametrize("tail, first", [(-1, 0), (4, 1)])
def test_a_gzipped_file_is_decompressed_off_the_loop(tmp_path, monkeypatch, tail, first):
    """A restarted shim decompresses the files it found gzipped at their first read (from
    the start, or a tail reaching them), in a worker thread: the log is written meanwhile."""
    log = new_log(tmp_path, max_size=2 * LINE, max_file=3, compress=True)
    write(log, range(5))     # .2.gz (0 1), .1.gz (2 3), current (4)
    again = new_log(tmp_path, max_size=2 * LINE, max_file=3, compress=True)
    started, release = threading.Event(), threading.Event()
    wait = blocked_until(release, started)

    class SlowGzipFile(gzip.GzipFile):
        def read(self, *args):
            wait()
            return super().read(*args)
    monkeypatch.setattr(gzip, "GzipFile", SlowGzipFile)

    async def go():
        view = again.reader()

        async def everything():
            return b"".join([data async for _, data in jsonlog.read(view, {1}, tail=tail)])
        try:
            reading = asyncio.ensure_future(everything())
            assert await asyncio.to_thread(started.wait, 10)
            write(again, range(5, 8))   # a rotation too: .2.gz is removed, not from the reader
            release.set()
            return await reading
        finally:
            view.close()
    assert asyncio.run(go()) == b"".join(lines(*range(first, 8)))


def test_a_reader_keeps_the_gzipped_files_found_at_the_start_that_rotations_remove(tmp_path):
    """They are held open from the start: two rotations that remove one before a reader
    gets to it take nothing from the reader."""
    log = new_log(tmp_path, max_size=2 * LINE, max_file=3, compress=True)
    write(log, range(5))     # .2.gz (0 1), .1.gz (2 3), current (4)
    again = new_log(tmp_path, max_size=2 * LINE, max_file=3, compress=True)

    async def go():
        view = again.reader()
        try:
            reading = jsonlog.read(view, {1}, grew=_no_more)
            chunks = [await reading.__anext__()]    # in the oldest file
            write(again, range(5, 8))               # (0 1) removed; (2 3) is .2.gz
            await eventually(lambda: again.compression is None, what="the compression")
            write(again, [8])                       # (2 3) removed
            await eventually(lambda: again.compression is None, what="the compression")
            assert on_disk(again.path) == {"c-json.log": lines(8), "c-json.log.1.gz": lines(6, 7),
                                           "c-json.log.2.gz": lines(4, 5)}
            chunks.extend([c async for c in reading])
            return b"".join(data for _, data in chunks)
        finally:
            view.close()
    assert asyncio.run(go()) == b"".join(lines(*range(9)))


def test_a_plain_rotated_file_a_crash_left_is_gzipped_at_the_next_start(tmp_path):
    log = new_log(tmp_path, max_size=2 * LINE, max_file=3)   # as if its compression never ran
    write(log, range(3))
    with open(log.path + ".1.gz.tmp", "wb") as fh:
        fh.write(b"half")
    new_log(tmp_path, max_size=2 * LINE, max_file=3, compress=True)
    assert on_disk(log.path) == {"c-json.log": lines(2), "c-json.log.1.gz": lines(0, 1)}


def follow(log: ShimLog, produce, **query):
    """Follow the log while `produce(step)` writes more at each wait, until it says the end."""
    step = 0

    async def grew() -> bool:
        nonlocal step
        step += 1
        return produce(step)

    async def go():
        view = log.reader()
        try:
            return [data async for _, data in jsonlog.read(view, {1}, grew=grew, **query)]
        finally:
            view.close()
    return asyncio.run(go())


def test_a_follower_goes_on_across_rotations(tmp_path):
    log = new_log(tmp_path, max_size=2 * LINE, max_file=2)
    write(log, range(3))

    def produce(step: int) -> bool:
        if step <= 3:
            write(log, range(10 * step, 10 * step + 3))   # each wait: three lines, a rotation or two
            return True
        return False
    got = follow(log, produce, tail=1)
    assert b"".join(got) == b"".join(lines(2, 10, 11, 12, 20, 21, 22, 30, 31, 32))


def test_a_slow_follower_keeps_the_files_it_has_still_to_read(tmp_path):
    """Rotations while a reader is in a file remove it from disk, not from the reader."""
    log = new_log(tmp_path, max_size=2 * LINE, max_file=2)
    write(log, range(2))
    view = log.reader()
    chunks = []

    async def go():
        reading = jsonlog.read(view, {1}, tail=-1, grew=_no_more)
        chunks.append(await reading.__anext__())      # in the first file now
        write(log, range(2, 12))                      # five rotations meanwhile
        assert sorted(os.listdir(os.path.dirname(log.path))) == ["c-json.log", "c-json.log.1"]
        chunks.extend([c async for c in reading])
    asyncio.run(go())
    assert b"".join(data for _, data in chunks) == b"".join(lines(*range(12)))
    view.close()
    assert [gen.gone for gen in log.chain] == [False, False]   # what only the reader kept is closed


def test_the_none_driver_keeps_a_little_in_memory_only(tmp_path):
    log = ShimLog(settings(driver="none", max_size=2 * LINE, max_file=2), "", str(tmp_path))
    log.open()
    write(log, range(7))
    assert os.listdir(tmp_path) == []

    async def everything():
        view = log.reader()
        try:
            return b"".join([data async for _, data in jsonlog.read(view, {1})])
        finally:
            view.close()
    assert asyncio.run(everything()) == b"".join(lines(4, 5, 6))


def test_entries_carry_the_attributes(tmp_path):
    log = new_log(tmp_path, attrs={"tier": "db"})
    write(log, [1])
    line = open(log.path, "rb").read()
    assert b'"attrs":{"tier":"db"}' in line


def test_open_stored_takes_a_file_once_when_a_rotation_moves_it_meanwhile(tmp_path, monkeypatch):
    log = new_log(tmp_path, max_size=2 * LINE, max_file=4)
    write(log, range(5))      # files: .2 (0 1), .1 (2 3), current (4)
    real = logfiles.open_rotated
    rotated_once = []

    def open_rotated(path, index, tmp_dir):
        if not rotated_once:   # a rotation between opening the current file and .1
            rotated_once.append(True)
            write(log, range(5, 7))
        return real(path, index, tmp_dir)
    monkeypatch.setattr(logfiles, "open_rotated", open_rotated)
    # What was current when the read began is now .1 (taken once); nothing is out of order.
    assert read_stored(log.path, 4, tmp_path) == b"".join(lines(*range(5)))


@pytest.mark.parametrize("driver, name", [("json-file", "log"), ("local", "local_log"), ("none", None)])
def test_where_each_driver_keeps_its_log(driver, name):
    files = {"log": "/d/x-json.log", "local_log": "/d/local-logs/container.log"}
    assert logfiles.path_of(files, driver) == (files[name] if name else "")
