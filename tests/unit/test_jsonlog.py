"""The json-file log: encoding, parsing, reading in pieces, tail across files, Docker's
since/until window, timestamps and details, and joining entries into chunks."""

import asyncio
import json
import os

import pytest

from services.common import jsonlog


def write_log(path, chunks, when="2026-01-01T00:00:00.000000000Z", attrs="") -> int:
    with open(path, "wb") as fh:
        for fd, data in chunks:
            fh.write(jsonlog.encode(fd, data, when=when, attrs=attrs))
    return os.open(path, os.O_RDONLY)


def texts(entries) -> list[bytes]:
    return [d for _, d, _, _ in entries]


def read_all(view, wanted=frozenset({1, 2}), **query) -> list[tuple[dict, bytes]]:
    async def go():
        return [chunk async for chunk in jsonlog.read(view, set(wanted), **query)]
    return asyncio.run(go())


def test_entries_give_back_the_bytes_of_each_stream():
    raw = b"one\ntwo\nhalf" + bytes([0xff, 0x00]) + b"\n"
    entries = list(jsonlog.parse(jsonlog.encode(1, raw) + jsonlog.encode(2, b"err")))
    assert b"".join(d for fd, d, _, _ in entries if fd == 1) == raw
    assert [d for fd, d, _, _ in entries if fd == 2] == [b"err"]


def test_a_line_is_dockers_json_file_entry_with_its_attributes():
    attrs = jsonlog.attrs_json({"team": "a b", "env": "x"})
    line = jsonlog.encode(1, b"hi\n", when="2026-01-01T00:00:00.5Z", attrs=attrs)
    assert line == (b'{"log":"hi\\n","stream":"stdout","attrs":{"env":"x","team":"a b"},'
                    b'"time":"2026-01-01T00:00:00.5Z"}\n')
    assert json.loads(line) == {"log": "hi\n", "stream": "stdout", "attrs": {"env": "x", "team": "a b"},
                                "time": "2026-01-01T00:00:00.5Z"}
    assert list(jsonlog.parse(line)) == [(1, b"hi\n", "2026-01-01T00:00:00.5Z", {"env": "x", "team": "a b"})]
    assert jsonlog.attrs_json({}) == ""


def test_a_half_written_line_is_not_an_entry():
    line = jsonlog.encode(1, b"whole\n")
    assert texts(jsonlog.parse(line + line[:10])) == [b"whole\n"]


def test_time_ns_reads_rfc3339_to_the_nanosecond():
    assert jsonlog.time_ns("1970-01-01T00:00:01.000000007Z") == 1_000_000_007
    assert jsonlog.time_ns("2026-01-01T00:00:00Z") == 1767225600 * 10 ** 9
    assert jsonlog.time_ns("2026-01-01T00:00:00.5Z") == 1767225600 * 10 ** 9 + 500_000_000
    assert jsonlog.time_ns("2026-01-01T02:00:00.25+02:00") == 1767225600 * 10 ** 9 + 250_000_000
    assert jsonlog.time_ns("nonsense") == 0


def test_read_lines_stops_at_complete_lines_and_pieces(tmp_path, monkeypatch):
    fd = write_log(tmp_path / "c-json.log", [(1, b"%d\n" % n) for n in range(100)])
    size = os.fstat(fd).st_size
    monkeypatch.setattr(jsonlog, "READ_PIECE", 100)  # a few lines a piece
    offset, got, reads = 0, [], 0
    while True:
        data, offset = jsonlog.read_lines(fd, offset)
        if not data:
            break
        reads += 1
        assert data.endswith(b"\n")
        got += texts(jsonlog.parse(data))
    assert got == [b"%d\n" % n for n in range(100)] and offset == size and reads > 10
    # A bound short of a line's end leaves that line for later.
    data, offset = jsonlog.read_lines(fd, 0, upto=150)
    assert offset <= 150 and data and jsonlog.read_lines(fd, offset, upto=offset + 1)[0] == b""
    os.close(fd)


def test_read_lines_takes_a_line_longer_than_a_piece(tmp_path, monkeypatch):
    fd = write_log(tmp_path / "c-json.log", [(1, b"x" * 500)])
    monkeypatch.setattr(jsonlog, "READ_PIECE", 100)
    data, offset = jsonlog.read_lines(fd, 0)
    assert texts(jsonlog.parse(data)) == [b"x" * 500] and offset == os.fstat(fd).st_size
    os.close(fd)


@pytest.mark.parametrize("piece", [50, 1 << 20])
@pytest.mark.parametrize("lines", [0, 1, 3, 10, 11, 50])
def test_tail_offset_finds_the_last_lines(tmp_path, monkeypatch, piece, lines):
    fd = write_log(tmp_path / "c-json.log", [(1, b"%d\n" % n) for n in range(10)])
    monkeypatch.setattr(jsonlog, "READ_PIECE", piece)
    size = os.fstat(fd).st_size
    for upto in (size, size - 5):  # at the end of a line, and in the middle of one
        start, found = jsonlog.tail_offset(fd, upto, lines)
        data, _ = jsonlog.read_lines(fd, start, upto)
        complete = 10 if upto == size else 9
        want = [b"%d\n" % n for n in range(max(0, complete - lines), complete)]
        assert texts(jsonlog.parse(data)) == want and found == len(want)
    os.close(fd)


def stored_files(tmp_path, groups) -> jsonlog.Stored:
    """A log of several files (oldest first), each of the given lines."""
    files = []
    for i, lines in enumerate(groups):
        fd = write_log(tmp_path / f"part{i}", [(1, line) for line in lines])
        files.append(jsonlog.Segment(fd, end=os.fstat(fd).st_size))
    return jsonlog.Stored(files)


@pytest.mark.parametrize("lines, want", [(0, []), (1, [b"e\n"]), (2, [b"d\n", b"e\n"]),
                                         (4, [b"b\n", b"c\n", b"d\n", b"e\n"]),
                                         (5, [b"a\n", b"b\n", b"c\n", b"d\n", b"e\n"]), (9, None), (-1, None)])
def test_tail_and_reading_go_across_the_files_of_a_log(tmp_path, lines, want):
    view = stored_files(tmp_path, [[b"a\n", b"b\n"], [], [b"c\n", b"d\n"], [b"e\n"]])
    got = read_all(view, tail=lines, timestamps=True)
    entries = [piece.split(b" ", 1)[1] for meta, data in got for piece in split(meta, data)]
    assert entries == (want if want is not None else [b"a\n", b"b\n", b"c\n", b"d\n", b"e\n"])
    view.close()


def split(meta, data) -> list[bytes]:
    out, at = [], 0
    for size in meta["sizes"]:
        out.append(data[at:at + size])
        at += size
    assert at == len(data)
    return out


def test_the_window_is_dockers_since_and_until(tmp_path):
    path = tmp_path / "c-json.log"
    with open(path, "wb") as fh:
        for second, text in ((1, b"one\n"), (2, b"two\n"), (3, b"three\n"), (1, b"late\n"), (4, b"four\n")):
            fh.write(jsonlog.encode(1, text, when=f"1970-01-01T00:00:0{second}.000000000Z"))
    fd = os.open(path, os.O_RDONLY)
    view = jsonlog.Stored([jsonlog.Segment(fd, end=os.fstat(fd).st_size)])

    def lines(**window) -> bytes:
        return b"".join(data for _, data in read_all(view, **window))
    s = 10 ** 9
    assert lines() == b"one\ntwo\nthree\nlate\nfour\n"
    # Since skips until the first entry at or after it, then takes every one (times need not rise).
    assert lines(since_ns=2 * s) == b"two\nthree\nlate\nfour\n"
    # Until ends the read at the first entry after it.
    assert lines(until_ns=2 * s) == b"one\ntwo\n"
    assert lines(since_ns=2 * s, until_ns=3 * s) == b"two\nthree\nlate\n"
    assert lines(since_ns=9 * s) == b""
    view.close()


def test_timestamps_and_details_come_before_each_entry(tmp_path):
    fd = write_log(tmp_path / "c-json.log", [(1, b"a\n"), (2, b"b\n")],
                   attrs=jsonlog.attrs_json({"z": "last one", "a": "x=y,&"}))
    view = jsonlog.Stored([jsonlog.Segment(fd, end=os.fstat(fd).st_size)])
    got = read_all(view, details=True, timestamps=True)
    first, second = (b"2026-01-01T00:00:00.000000000Z a=x%3Dy%2C%26,z=last+one " + line for line in (b"a\n", b"b\n"))
    assert got == [({"fd": 1, "sizes": [len(first)]}, first), ({"fd": 2, "sizes": [len(second)]}, second)]
    # Without attributes, --details puts a lone space first, as dockerd does.
    fd2 = write_log(tmp_path / "plain", [(1, b"a\n")])
    assert read_all(jsonlog.Stored([jsonlog.Segment(fd2)]), details=True) == [({"fd": 1, "sizes": [3]}, b" a\n")]
    view.close()
    os.close(fd2)


def window():
    return jsonlog._Window(0, 0)


def test_chunks_join_runs_of_a_stream_keep_their_order_and_each_entry_size():
    entries = [(1, b"a", "", None), (1, b"bb", "", None), (2, b"E", "", None), (1, b"c", "", None)]
    assert list(jsonlog.chunks(entries, {1, 2}, window())) == [(1, b"abb", [1, 2]), (2, b"E", [1]), (1, b"c", [1])]
    assert list(jsonlog.chunks(entries, {1}, window())) == [(1, b"abbc", [1, 2, 1])]
    assert list(jsonlog.chunks(entries, {1, 2}, window(), tty=True)) == [(0, b"abbEc", [1, 2, 1, 1])]
    assert list(jsonlog.chunks(entries, set(), window(), tty=True)) == []


def test_chunks_bound_a_message(monkeypatch):
    monkeypatch.setattr(jsonlog, "MESSAGE_SIZE", 4)
    entries = [(1, b"xx", "", None)] * 5
    assert list(jsonlog.chunks(entries, {1}, window())) == [(1, b"xxxx", [2, 2]), (1, b"xxxx", [2, 2]),
                                                           (1, b"xx", [2])]


def test_a_followed_read_goes_on_to_the_next_file_and_waits_for_more(tmp_path):
    """With `grew`, a read at the end of the last file waits; a file after it (a rotation)
    is read from its start."""
    first = write_log(tmp_path / "a", [(1, b"1\n")])
    files = [jsonlog.Segment(first)]

    class Growing(jsonlog.Stored):
        pass
    view = Growing(files)
    wakes = []

    async def grew() -> bool:
        wakes.append(len(files))
        if len(files) == 1:
            files.append(jsonlog.Segment(write_log(tmp_path / "b", [(1, b"2\n")])))
            return True
        return False

    async def go():
        return [data async for _, data in jsonlog.read(view, {1}, grew=grew)]
    assert asyncio.run(go()) == [b"1\n", b"2\n"] and wakes == [1, 2]
    view.close()


def test_a_follower_says_first_where_it_starts(tmp_path):
    """An empty chunk, before any entry: its caller then knows nothing after it is missed."""
    fd = write_log(tmp_path / "a", [(1, b"1\n")])
    view = jsonlog.Stored([jsonlog.Segment(fd)])
    assert read_all(view, started=True, tail=1) == [(jsonlog.STARTED, b""), ({"fd": 1, "sizes": [2]}, b"1\n")]
    assert read_all(jsonlog.Stored([]), started=True) == [(jsonlog.STARTED, b"")]
    view.close()
