"""The supervisor's exec sessions: Docker's refusals, one start only, and inspect asking the
container's shim until the exec ended, over the real records table and a stand-in shim."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import types

import pytest

from services.common import db, errors, wire
from services.common.sockets import shim_name
from services.supervisor import execs
from services.supervisor.records import Records

from .test_wire import CID, EXEC_CONFIG, created_container

PID = 889913


class Shim:
    """Answers shim.exec_state as told; checks every call against the wire schema."""

    def __init__(self, answer):
        self.answer = answer
        self.calls: list[tuple[str, dict]] = []

    async def call(self, name, params, timeout=None):
        wire.check(wire.method(name).params, params, name)
        self.calls.append((name, params))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class Clients:
    def __init__(self, shim: Shim):
        self.shim = shim

    @contextlib.contextmanager
    def connection(self, name):
        assert name == shim_name(CID)
        yield self.shim


def room(state: dict | None = None, answer=None):
    conn = sqlite3.connect(":memory:", isolation_level=None)
    db.migrate(conn)
    records = Records(conn)
    rec = created_container()
    rec["State"].update(state if state is not None else {"Status": "running", "Running": True, "Pid": PID})
    records.insert(rec)
    shim = Shim(answer if answer is not None else {"known": True, "running": True, "pid": 4242,
                                                    "exit_code": None})
    return execs.Execs(records, Clients(shim)), records, shim


def call(handler, **params):
    return asyncio.run(handler(types.SimpleNamespace(params=params)))


def create(r, config=EXEC_CONFIG) -> str:
    reply = call(r.create, container="quirky_turing", config=config)
    wire.check(wire.method("exec.create").reply, reply, "exec.create")
    return reply["id"]


def inspect(r, exec_id) -> dict:
    reply = call(r.inspect, id=exec_id)
    wire.check(wire.method("exec.inspect").reply, reply, "exec.inspect")
    return reply


def test_create_then_inspect_before_start():
    r, _, shim = room()
    exec_id = create(r)
    assert len(exec_id) == 64
    got = inspect(r, exec_id)
    assert got["Running"] is False and got["ExitCode"] is None and got["Pid"] == 0
    assert got["ContainerID"] == CID and got["CanRemove"] is False
    assert got["ProcessConfig"] == {"tty": False, "entrypoint": "sh", "arguments": ["-c", "ls /"],
                                    "privileged": False, "user": ""}
    assert (got["OpenStdin"], got["OpenStdout"], got["OpenStderr"]) == (True, True, True)
    assert shim.calls == []   # not started: nothing to ask


@pytest.mark.parametrize("state, message", [
    ({"Status": "exited", "Running": False}, f"Container {CID} is not running"),
    ({"Status": "paused", "Running": True, "Paused": True, "Pid": PID},
     f"Container {CID} is paused, unpause the container before exec"),
])
def test_create_refused_unless_running(state, message):
    r, _, _ = room(state)
    with pytest.raises(errors.Conflict, match=message):
        create(r)


def test_create_needs_a_command_and_a_container():
    r, _, _ = room()
    with pytest.raises(errors.BadParameter, match="No exec command specified"):
        create(r, {**EXEC_CONFIG, "Cmd": []})
    with pytest.raises(errors.NotFound, match="No such container: nope"):
        call(r.create, container="nope", config=EXEC_CONFIG)


def test_start_once_and_inspect_follows_the_shim():
    r, _, shim = room()
    exec_id = create(r)
    started = call(r.start, id=exec_id)
    wire.check(wire.method("exec.start").reply, started, "exec.start")
    assert started == {"container": CID, "pid": PID, "config": EXEC_CONFIG}
    got = inspect(r, exec_id)
    assert (got["Running"], got["Pid"], got["ExitCode"]) == (True, 4242, None)
    assert shim.calls == [("shim.exec_state", {"pid": PID, "exec_id": exec_id})]
    with pytest.raises(errors.Conflict, match=f"Exec command {exec_id} is already running"):
        call(r.start, id=exec_id)
    shim.answer = {"known": True, "running": False, "pid": 4242, "exit_code": 3}
    got = inspect(r, exec_id)
    assert (got["Running"], got["Pid"], got["ExitCode"]) == (False, 4242, 3)
    shim.answer = errors.ServerError("not asked again")
    assert inspect(r, exec_id)["ExitCode"] == 3   # its end is kept
    with pytest.raises(errors.Conflict, match=f"Exec command {exec_id} has already run"):
        call(r.start, id=exec_id)


def test_unknown_exec():
    r, _, _ = room()
    for handler in (r.start, r.inspect):
        with pytest.raises(errors.NotFound, match="No such exec instance: abc"):
            call(handler, id="abc")


def test_start_refused_once_the_container_stopped():
    r, records, _ = room()
    exec_id = create(r)
    rec = records.load(CID)
    rec["State"].update(Status="exited", Running=False, Pid=0)
    records.save(rec)
    with pytest.raises(errors.Conflict, match=f"Container {CID} is not running"):
        call(r.start, id=exec_id)


def test_a_started_exec_ends_with_its_container_or_shim():
    r, records, shim = room(answer=errors.Unavailable("the shim is gone"))
    exec_id = create(r)
    call(r.start, id=exec_id)
    got = inspect(r, exec_id)
    assert (got["Running"], got["ExitCode"]) == (False, None)
    rec = records.load(CID)
    rec["State"].update(Status="running", Pid=PID + 100)   # started again: another process
    records.save(rec)
    shim.calls.clear()
    assert inspect(r, exec_id)["Running"] is False and shim.calls == []


def test_unknown_to_the_shim_yet_is_running():
    r, _, _ = room(answer={"known": False, "running": False, "pid": 0, "exit_code": None})
    exec_id = create(r)
    call(r.start, id=exec_id)
    assert inspect(r, exec_id)["Running"] is True


def test_execs_go_with_their_container():
    r, records, _ = room()
    kept = create(r)
    r.forget(CID)
    with pytest.raises(errors.NotFound):
        inspect(r, kept)
    r, records, _ = room()
    exec_id = create(r)
    records.delete(CID)
    with pytest.raises(errors.NotFound, match="No such exec instance"):
        inspect(r, exec_id)
    assert records.conn.execute("SELECT COUNT(*) FROM execs").fetchone()[0] == 0
