"""The json-file log: encoding, parsing, reading in pieces, tail, and joining entries."""

import os

import pytest

from services.common import jsonlog


def write_log(tmp_path, chunks) -> int:
    path = tmp_path / "c-json.log"
    with open(path, "wb") as fh:
        for fd, data in chunks:
            fh.write(jsonlog.encode(fd, data, when="2026-01-01T00:00:00.000000000Z"))
    return os.open(path, os.O_RDONLY)


def test_entries_give_back_the_bytes_of_each_stream():
    raw = b"one\ntwo\nhalf" + bytes([0xff, 0x00]) + b"\n"
    entries = list(jsonlog.parse(jsonlog.encode(1, raw) + jsonlog.encode(2, b"err")))
    assert b"".join(d for fd, d, _ in entries if fd == 1) == raw
    assert [d for fd, d, _ in entries if fd == 2] == [b"err"]


def test_a_half_written_line_is_not_an_entry():
    line = jsonlog.encode(1, b"whole\n")
    assert [d for _, d, _ in jsonlog.parse(line + line[:10])] == [b"whole\n"]


def test_read_lines_stops_at_complete_lines_and_pieces(tmp_path, monkeypatch):
    fd = write_log(tmp_path, [(1, b"%d\n" % n) for n in range(100)])
    size = os.fstat(fd).st_size
    monkeypatch.setattr(jsonlog, "READ_PIECE", 100)  # a few lines a piece
    offset, got, reads = 0, [], 0
    while True:
        data, offset = jsonlog.read_lines(fd, offset)
        if not data:
            break
        reads += 1
        assert data.endswith(b"\n")
        got += [d for _, d, _ in jsonlog.parse(data)]
    assert got == [b"%d\n" % n for n in range(100)] and offset == size and reads > 10
    # A bound short of a line's end leaves that line for later.
    data, offset = jsonlog.read_lines(fd, 0, upto=150)
    assert offset <= 150 and data and jsonlog.read_lines(fd, offset, upto=offset + 1)[0] == b""
    os.close(fd)


def test_read_lines_takes_a_line_longer_than_a_piece(tmp_path, monkeypatch):
    fd = write_log(tmp_path, [(1, b"x" * 500)])
    monkeypatch.setattr(jsonlog, "READ_PIECE", 100)
    data, offset = jsonlog.read_lines(fd, 0)
    assert [d for _, d, _ in jsonlog.parse(data)] == [b"x" * 500] and offset == os.fstat(fd).st_size
    os.close(fd)


@pytest.mark.parametrize("piece", [50, 1 << 20])
@pytest.mark.parametrize("lines", [0, 1, 3, 10, 11, 50])
def test_tail_offset_finds_the_last_lines(tmp_path, monkeypatch, piece, lines):
    fd = write_log(tmp_path, [(1, b"%d\n" % n) for n in range(10)])
    monkeypatch.setattr(jsonlog, "READ_PIECE", piece)
    size = os.fstat(fd).st_size
    for upto in (size, size - 5):  # at the end of a line, and in the middle of one
        start = jsonlog.tail_offset(fd, upto, lines)
        data, _ = jsonlog.read_lines(fd, start, upto)
        complete = 10 if upto == size else 9
        want = [b"%d\n" % n for n in range(max(0, complete - lines), complete)]
        assert [d for _, d, _ in jsonlog.parse(data)] == want
    os.close(fd)


def test_coalesce_joins_runs_of_a_stream_and_keeps_their_order():
    entries = [(1, b"a", ""), (1, b"b", ""), (2, b"E", ""), (1, b"c", "")]
    assert list(jsonlog.coalesce(entries, {1, 2})) == [(1, b"ab"), (2, b"E"), (1, b"c")]
    assert list(jsonlog.coalesce(entries, {1})) == [(1, b"abc")]
    assert list(jsonlog.coalesce(entries, {1, 2}, tty=True)) == [(0, b"abEc")]
    assert list(jsonlog.coalesce(entries, set(), tty=True)) == []


def test_coalesce_bounds_a_message(monkeypatch):
    monkeypatch.setattr(jsonlog, "MESSAGE_SIZE", 4)
    entries = [(1, b"xx", "")] * 5
    assert list(jsonlog.coalesce(entries, {1})) == [(1, b"xxxx"), (1, b"xxxx"), (1, b"xx")]
