"""The supervisor's container records in memory: every read answered from memory agrees with
the containers table after every write, and a supervisor started again (a new Records on
the same table) reads back the same."""

from __future__ import annotations

import copy
import json
import sqlite3

import pytest

from services.common import db, errors
from services.supervisor.records import Records

from .test_wire import created_container


def record(cid: str, name: str, created: str, status: str = "created") -> dict:
    rec = created_container()
    rec.update({"Id": cid, "Name": name, "Created": created})
    rec["State"]["Status"] = status
    rec["State"]["Running"] = status == "running"
    return rec


def table(conn: sqlite3.Connection) -> dict:
    """What the containers table holds, read afresh: id -> (name, state, record)."""
    return {cid: (name, state, json.loads(config)) for cid, name, state, config in
            conn.execute("SELECT id, name, state, config FROM containers")}


def agrees(records: Records) -> None:
    """Memory and table agree, and a supervisor started now reads the same."""
    rows = table(records.conn)
    again = Records(records.conn)
    for reader in (records, again):
        assert {r["Id"]: r for r in reader.all()} == {cid: rec for cid, (_, _, rec) in rows.items()}
        for cid, (name, state, rec) in rows.items():
            assert reader.load(cid) == rec
            assert reader.resolve(name) == cid and reader.name_owner(name) == cid
            assert reader.entry(cid).state == state and reader.entry(cid).record == rec
        assert sorted(reader.ids()) == sorted(rows)
    assert [r["Id"] for r in again.all()] == [r["Id"] for r in records.all()]


@pytest.fixture
def records() -> Records:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    db.migrate(conn)
    return Records(conn)


A, B, C = "a" * 64, "ab" + "0" * 62, "c" * 64
T1, T2 = "2026-12-02T08:00:00.000000001Z", "2026-12-02T08:00:01.000000001Z"


def test_every_write_is_read_back_at_once_and_after_a_restart(records):
    records.insert(record(A, "/one", T1))
    records.insert(record(B, "/two", T2))
    agrees(records)
    rec = records.load(A)
    rec["State"].update({"Status": "running", "Running": True, "Pid": 42})
    records.save(rec)
    assert records.entry(A).record["State"]["Pid"] == 42
    assert records.ids("running") == [A]
    agrees(records)
    rec["Name"] = "/uno"
    records.rename(rec)
    assert records.resolve("uno") == A and records.name_owner("/one") is None
    with pytest.raises(errors.NotFound):
        records.resolve("one")
    agrees(records)
    records.delete(B)
    assert not records.exists(B) and records.name_owner("/two") is None
    with pytest.raises(errors.NotFound):
        records.load(B)
    agrees(records)


def test_a_write_the_table_refuses_is_not_remembered(records):
    records.insert(record(A, "/one", T1))
    with pytest.raises(sqlite3.IntegrityError):
        records.insert(record(C, "/one", T2))   # the name is taken
    assert not records.exists(C) and records.resolve("one") == A
    with pytest.raises(sqlite3.IntegrityError):
        records.insert(record(A, "/other", T2))   # the id is taken
    assert records.name_owner("/other") is None
    agrees(records)


def test_a_save_of_a_removed_record_does_not_bring_it_back(records):
    records.insert(record(A, "/one", T1))
    rec = records.load(A)
    records.delete(A)
    records.save(rec)   # as the table: an UPDATE of no row
    assert not records.exists(A) and records.all() == []
    agrees(records)


def test_readers_get_records_of_their_own(records):
    records.insert(record(A, "/one", T1))
    mine = records.load(A)
    mine["State"]["Status"] = "changed but not saved"
    first = records.all()[0]
    first["Name"] = "/changed"
    assert records.load(A)["State"]["Status"] == "created"
    assert records.entry(A).record["Name"] == "/one" and records.resolve("one") == A
    before = copy.deepcopy(records.entry(A).record)
    mine["Name"] = "/saved"
    records.save(mine)   # a save takes a copy: later changes of the caller's record stay its own
    mine["Name"] = "/after"
    assert records.entry(A).record == {**before, "Name": "/saved", "State": mine["State"]}


def test_the_order_is_newest_first_then_the_later_recorded(records):
    records.insert(record(A, "/one", T1))
    records.insert(record(C, "/three", T2))
    records.insert(record(B, "/two", T2))   # as old as C, recorded after it
    assert [e.id for e in records.newest()] == [B, C, A]
    assert [r["Id"] for r in records.all()] == [B, C, A]
    assert records.ids() == [A, C, B]
    records.delete(C)
    records.insert(record(C, "/three", T1))   # back, as old as A, recorded last
    assert records.ids() == [A, C, B]
    agrees(records)


def test_ids_resolve_by_prefix_only_when_unique(records):
    records.insert(record(A, "/one", T1))
    records.insert(record(B, "/two", T2))
    assert records.resolve("aa") == A
    with pytest.raises(errors.BadParameter, match="multiple containers match the prefix 'a'"):
        records.resolve("a")
    with pytest.raises(errors.NotFound):
        records.resolve("ff")
    with pytest.raises(errors.BadParameter):
        records.resolve("")
    assert records.new_id()[:12] not in (A[:12], B[:12])


def test_what_readers_work_out_is_kept_until_the_record_changes(records):
    records.insert(record(A, "/one", T1))
    entry = records.entry(A)
    entry.memo["row"] = b"worked out"
    assert records.entry(A).memo == {"row": b"worked out"}
    records.save(records.load(A))
    assert records.entry(A).memo == {}
    entry.memo["row"] = b"again"
    rec = records.load(A)
    rec["Name"] = "/uno"
    records.rename(rec)
    assert records.entry(A).memo == {}
