"""The api's container lists: asked of the supervisor once, then answered from what the api
kept while the records' stamp holds, with the Status words of each answer's moment."""

from __future__ import annotations

import asyncio
import json

import pytest

from services.api import container_list
from services.api.container_list import ContainerLists
from services.common import container_summary, records_stamp

from .test_container_summary import exited_container, running

NOW = 1_800_000_000.0


def asked(**changes) -> dict:
    return {"all": True, "limit": -1, "since": None, "before": None, "filters": None, **changes}


class Supervisor:
    """container.summaries of the records it holds, counting the calls."""

    def __init__(self, records: list[dict]):
        self.records = records
        self.calls = 0

    async def call(self, name: str, params: dict | None = None, **kw):
        assert name == "container.summaries"
        self.calls += 1
        rows = [container_summary.pieces(rec) for rec in self.records]
        return {"rows": [{"before": b, "after": a, "since": s} for b, a, s in rows]}


@pytest.fixture
def lists(tmp_path):
    writer = records_stamp.Writer(str(tmp_path))
    supervisor = Supervisor([running(), exited_container()])
    return ContainerLists(supervisor, str(tmp_path)), supervisor, writer


def answer(lists: ContainerLists, **changes) -> list[dict]:
    return json.loads(asyncio.run(lists.body(asked(**changes))))


def test_a_list_asked_again_with_no_record_changed_is_not_asked_of_the_supervisor(lists):
    api, supervisor, _ = lists
    first = answer(api)
    assert answer(api) == first and supervisor.calls == 1
    assert [row["Id"] for row in first] == [rec["Id"] for rec in supervisor.records]


def test_a_change_of_a_record_is_answered_at_once(lists):
    api, supervisor, writer = lists
    answer(api)
    supervisor.records.pop()
    writer.moved()   # as the supervisor's Records, at the change
    assert len(answer(api)) == 1 and supervisor.calls == 2


def test_each_list_is_kept_by_its_parameters(lists):
    api, supervisor, _ = lists
    answer(api)
    answer(api, all=False)
    answer(api, filters={"label": ["a=b"]})
    assert supervisor.calls == 3
    answer(api, filters={"label": ["a=b"]})
    answer(api)
    assert supervisor.calls == 3
    answer(api, filters={"label": ["a=c"]})
    assert supervisor.calls == 4


def test_a_list_by_ancestor_is_always_asked(lists):
    api, supervisor, _ = lists
    answer(api, filters={"ancestor": ["busybox"]})
    answer(api, filters={"ancestor": ["busybox"]})
    assert supervisor.calls == 2   # the image store may have changed: no stamp tells


def test_without_a_stamp_every_list_is_asked(tmp_path):
    supervisor = Supervisor([running()])
    api = ContainerLists(supervisor, str(tmp_path / "none-yet"))
    answer(api)
    answer(api)
    assert supervisor.calls == 2


def at(monkeypatch, seconds: float) -> None:
    """The api's clock, `seconds` after the running container started."""
    started = container_summary.status_parts(running()["State"])[2]
    monkeypatch.setattr(container_list.time, "time", lambda: started + seconds)


def test_the_status_words_are_of_each_answers_moment(lists, monkeypatch):
    api, supervisor, _ = lists
    at(monkeypatch, 5)
    assert answer(api)[0]["Status"] == "Up 5 seconds"
    at(monkeypatch, 7200)
    assert answer(api)[0]["Status"] == "Up 2 hours" and supervisor.calls == 1


def test_only_so_many_lists_are_kept(lists):
    api, supervisor, _ = lists
    for limit in range(container_list.KEPT + 1):
        answer(api, limit=limit)
    answer(api, limit=container_list.KEPT)   # the newest is kept
    assert supervisor.calls == container_list.KEPT + 1
    answer(api, limit=0)                      # the oldest went
    assert supervisor.calls == container_list.KEPT + 2


def test_the_same_bytes_are_answered_until_a_rows_status_words_change(lists, monkeypatch):
    api, supervisor, _ = lists
    at(monkeypatch, 5.2)
    first = asyncio.run(api.body(asked()))
    at(monkeypatch, 5.9)
    assert asyncio.run(api.body(asked())) is first   # "Up 5 seconds" still: not made again
    at(monkeypatch, 6.0)
    assert json.loads(asyncio.run(api.body(asked())))[0]["Status"] == "Up 6 seconds"
    assert supervisor.calls == 1


def test_a_clock_set_back_makes_the_list_again(lists, monkeypatch):
    api, _, _ = lists
    at(monkeypatch, 600)
    assert answer(api)[0]["Status"] == "Up 10 minutes"
    at(monkeypatch, 30)
    assert answer(api)[0]["Status"] == "Up 30 seconds"
