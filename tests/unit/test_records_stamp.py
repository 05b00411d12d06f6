"""The container records' stamp: the supervisor moves it at every change of a record, the
api reads it without a call, and a supervisor started again never brings back a stamp an
earlier one showed."""

from __future__ import annotations

import os
import sqlite3

import pytest

from services.common import db, records_stamp
from services.supervisor.records import Records

from .test_records_cache import A, B, T1, T2, record


def test_a_reader_sees_each_move_and_nothing_else(tmp_path):
    reader = records_stamp.Reader(str(tmp_path))
    assert reader.read() is None   # no supervisor made it yet: nothing to trust
    writer = records_stamp.Writer(str(tmp_path))
    first = reader.read()
    assert first is not None and reader.read() == first
    writer.moved()
    assert reader.read() not in (None, first)
    assert oct(os.stat(records_stamp.path(str(tmp_path))).st_mode & 0o777) == "0o600"


def test_a_supervisor_started_again_starts_at_a_stamp_of_its_own(tmp_path):
    reader = records_stamp.Reader(str(tmp_path))
    seen = set()
    for _ in range(20):
        records_stamp.Writer(str(tmp_path))
        stamp = reader.read()
        assert stamp not in seen
        seen.add(stamp)
    # The same file all along: a reader's mapping of it stays the one the writers write.
    assert len({os.stat(records_stamp.path(str(tmp_path))).st_ino}) == 1


def test_a_file_made_again_by_hand_is_followed(tmp_path):
    reader = records_stamp.Reader(str(tmp_path))
    records_stamp.Writer(str(tmp_path))
    old = reader.read()
    os.unlink(records_stamp.path(str(tmp_path)))
    assert reader.read() is None   # the one a supervisor may still write is gone
    writer = records_stamp.Writer(str(tmp_path))
    new = reader.read()
    writer.moved()
    assert new != old and reader.read() not in (new, None)


def test_a_short_file_is_no_stamp(tmp_path):
    open(records_stamp.path(str(tmp_path)), "wb").close()
    assert records_stamp.Reader(str(tmp_path)).read() is None


@pytest.fixture
def stamped(tmp_path):
    conn = sqlite3.connect(":memory:", isolation_level=None)
    db.migrate(conn)
    return Records(conn, records_stamp.Writer(str(tmp_path))), records_stamp.Reader(str(tmp_path))


def test_every_change_of_a_record_moves_the_stamp(stamped):
    records, reader = stamped
    seen = [reader.read()]

    def moved():
        assert reader.read() not in seen
        seen.append(reader.read())
    records.insert(record(A, "/one", T1))
    moved()
    records.insert(record(B, "/two", T2))
    moved()
    rec = records.load(A)
    rec["State"]["Status"] = "running"
    records.save(rec)
    moved()
    rec["Name"] = "/uno"
    records.rename(rec)
    moved()
    records.delete(B)
    moved()


def test_reads_and_refused_writes_leave_the_stamp(stamped):
    records, reader = stamped
    records.insert(record(A, "/one", T1))
    stamp = reader.read()
    records.all(), records.newest(), records.load(A), records.resolve("one")
    assert reader.read() == stamp
    with pytest.raises(sqlite3.IntegrityError):
        records.insert(record(B, "/one", T2))   # the name is taken: nothing changed
    assert reader.read() == stamp
    rec = records.load(A)
    records.delete(A)
    stamp = reader.read()
    records.save(rec)   # a removed record stays removed: nothing changed
    assert reader.read() == stamp
