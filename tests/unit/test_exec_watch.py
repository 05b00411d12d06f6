"""Each started exec watched to its end (services/supervisor/exec_watch.py): its end recorded
and its exec_die emitted as it ends, once whoever learns it first (the watch, an inspect),
over the real records table and a stand-in shim."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import types

import pytest

from services.common import db, errors, wire
from services.common.events import message
from services.supervisor import events, execs
from services.supervisor.exec_watch import ExecWatch
from services.supervisor.records import Records

from ..polling import eventually
from .test_wire import CID, EXEC_CONFIG, created_container

PID = 889913


class Journal:
    """What the supervisor's events.emit records (the attributes as the journal keeps them)."""

    def __init__(self):
        self.events: list[tuple[str, str, str, dict]] = []

    def emit(self, type_, action, actor, attributes=None):
        self.events.append((type_, action, actor, message(type_, action, actor, attributes)["Actor"]["Attributes"]))

    def actions(self) -> list[str]:
        return [action.split(":")[0] for _, action, _, _ in self.events]


@pytest.fixture
def journal():
    recorded = Journal()
    events.install(recorded)
    yield recorded
    events.install(None)


class Shim:
    """exec_wait answered when the test says (a future per exec), exec_state at once; every
    call checked against the wire schema."""

    def __init__(self):
        self.ends: dict[str, asyncio.Future] = {}
        self.state = {"known": True, "running": True, "pid": 4242, "exit_code": None}
        self.calls: list[str] = []

    def end(self, exec_id: str):
        if exec_id not in self.ends:
            self.ends[exec_id] = asyncio.get_running_loop().create_future()
        return self.ends[exec_id]

    async def call(self, name, params, timeout=None):
        wire.check(wire.method(name).params, params, name)
        self.calls.append(name)
        if name == "shim.exec_wait":
            answer = await self.end(params["exec_id"])
        else:
            answer = self.state
        if isinstance(answer, Exception):
            raise answer
        wire.check(wire.method(name).reply, answer, name)
        return answer


class Clients:
    closed = False

    def __init__(self, shim: Shim):
        self.shim = shim

    @contextlib.contextmanager
    def connection(self, name):
        yield self.shim


def room():
    conn = sqlite3.connect(":memory:", isolation_level=None)
    db.migrate(conn)
    records = Records(conn)
    rec = created_container()
    rec["State"].update({"Status": "running", "Running": True, "Pid": PID})
    records.insert(rec)
    shim = Shim()
    r = execs.Execs(records, Clients(shim))
    return r, ExecWatch(r, r.clients), records, shim


async def handle(handler, **params):
    return await handler(types.SimpleNamespace(params=params))


async def started(r) -> str:
    exec_id = (await handle(r.create, container=CID, config=EXEC_CONFIG))["id"]
    await handle(r.start, id=exec_id)
    return exec_id


def dies(journal: Journal) -> list[dict]:
    return [attrs for _, action, _, attrs in journal.events if action == "exec_die"]


def test_an_exec_nobody_inspects_is_recorded_ended_as_it_ends(journal):
    async def main():
        r, watch, _, shim = room()
        exec_id = await started(r)
        await eventually(lambda: exec_id in shim.ends, what="the watch to ask the shim")
        assert (await handle(r.inspect, id=exec_id))["Running"] is True
        shim.ends[exec_id].set_result({"known": True, "running": False, "pid": 4242, "exit_code": 3})
        await eventually(lambda: r.load(exec_id)["Ended"], what="the end recorded")
        assert r.load(exec_id)["ExitCode"] == 3 and r.load(exec_id)["Pid"] == 4242
        await eventually(lambda: not watch.tasks, what="the watch to be over")
        shown = await handle(r.inspect, id=exec_id)
        assert (shown["Running"], shown["ExitCode"]) == (False, 3)
        return exec_id
    exec_id = asyncio.run(main())
    assert journal.actions() == ["exec_create", "exec_start", "exec_die"]
    _, _, actor, attrs = journal.events[-1]
    assert actor == CID
    assert attrs == {"app": "web", "name": "quirky_turing", "image": "busybox", "execID": exec_id, "exitCode": "3"}


def test_an_inspect_that_learns_it_first_leaves_the_watch_nothing_to_emit(journal):
    async def main():
        r, watch, _, shim = room()
        exec_id = await started(r)
        await eventually(lambda: exec_id in shim.ends, what="the watch to ask the shim")
        shim.state = {"known": True, "running": False, "pid": 4242, "exit_code": 5}
        assert (await handle(r.inspect, id=exec_id))["ExitCode"] == 5
        shim.ends[exec_id].set_result({"known": True, "running": False, "pid": 4242, "exit_code": 5})
        await eventually(lambda: not watch.tasks, what="the watch to be over")
        assert r.ended(exec_id, 5) is False   # recorded already
    asyncio.run(main())
    assert [attrs["exitCode"] for attrs in dies(journal)] == ["5"]


def test_a_gone_shim_ends_the_exec_its_code_unknown(journal):
    async def main():
        r, watch, records, shim = room()
        exec_id = await started(r)
        await eventually(lambda: exec_id in shim.ends, what="the watch to ask the shim")
        shim.ends[exec_id].set_result(errors.Unavailable("the shim went away"))   # shim_pid 0: not alive
        await eventually(lambda: not watch.tasks, what="the watch to be over")
        got = r.load(exec_id)
        assert got["Ended"] is True and got["ExitCode"] is None
        return exec_id
    exec_id = asyncio.run(main())
    assert dies(journal) == [{"app": "web", "name": "quirky_turing", "image": "busybox", "execID": exec_id}]


def test_an_exec_whose_container_start_is_over_is_ended_without_asking(journal):
    async def main():
        r, watch, records, shim = room()
        exec_id = (await handle(r.create, container=CID, config=EXEC_CONFIG))["id"]
        rec = records.load(CID)
        await handle(r.start, id=exec_id)
        rec["State"].update(Pid=PID + 1)   # started again meanwhile: another process
        records.save(rec)
        await eventually(lambda: not watch.tasks, what="the watch to be over")
        assert r.load(exec_id)["Ended"] is True and shim.calls == []
    asyncio.run(main())
    assert len(dies(journal)) == 1


@pytest.mark.parametrize("answer", [{"known": False, "running": False, "pid": 0, "exit_code": None},
                                    {"known": True, "running": False, "pid": 0, "exit_code": 127}])
def test_an_exec_that_never_ran_ends_without_exec_die(journal, answer):
    async def main():
        r, watch, _, shim = room()
        exec_id = await started(r)
        await eventually(lambda: exec_id in shim.ends, what="the watch to ask the shim")
        shim.ends[exec_id].set_result(answer)
        await eventually(lambda: not watch.tasks, what="the watch to be over")
        assert r.load(exec_id)["Ended"] is True and r.load(exec_id)["ExitCode"] == answer["exit_code"]
    asyncio.run(main())
    assert dies(journal) == []


def test_a_new_supervisor_watches_the_started_execs_not_seen_ending(journal):
    async def main():
        r, _, records, shim = room()
        first, second, unstarted = [(await handle(r.create, container=CID, config=EXEC_CONFIG))["id"]
                                    for _ in range(3)]
        r.started_hooks.clear()   # as if no watch had run: the supervisor went away
        for exec_id in (first, second):
            await handle(r.start, id=exec_id)
        r.ended(second, 0)
        again = execs.Execs(records, r.clients)
        watch = ExecWatch(again, r.clients)
        watch.adopt()
        assert set(watch.tasks) == {first}
        await eventually(lambda: first in shim.ends, what="the watch to ask the shim")
        shim.ends[first].set_result({"known": True, "running": False, "pid": 77, "exit_code": 0})
        await eventually(lambda: not watch.tasks, what="the watch to be over")
        assert again.load(first)["Ended"] and not again.load(unstarted)["Started"]
        return first, second
    first, second = asyncio.run(main())
    assert [attrs["execID"] for attrs in dies(journal)] == [second, first]


def test_the_watch_leaves_a_stopping_supervisor_alone(journal):
    async def main():
        r, watch, _, shim = room()
        exec_id = await started(r)
        await eventually(lambda: exec_id in shim.ends, what="the watch to ask the shim")
        r.clients.closed = True
        shim.ends[exec_id].set_result(errors.Unavailable("the daemon is stopping"))
        await eventually(lambda: not watch.tasks, what="the watch to be over")
        assert r.load(exec_id)["Ended"] is False   # the next supervisor watches it
    asyncio.run(main())
    assert dies(journal) == []
