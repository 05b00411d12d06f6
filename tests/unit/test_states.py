"""The container state machine: which moves each state allows, and what each move writes."""

from __future__ import annotations

import pytest

from services.common import errors, timefmt
from services.supervisor import states


def record(status: str = states.CREATED) -> dict:
    rec = {"Id": "c" * 64, "State": states.initial()}
    rec["State"]["Status"] = status
    return rec


def test_a_new_container_is_created_and_not_running():
    state = states.initial()
    assert state["Status"] == "created" and not state["Running"] and state["Pid"] == 0
    assert state["StartedAt"] == state["FinishedAt"] == timefmt.ZERO


def test_started_writes_every_field_of_a_running_container():
    rec = record(states.EXITED)
    rec["State"].update(ExitCode=3, Error="old", OOMKilled=True, FinishedAt="2020-01-01T00:00:00Z")
    states.apply(rec, "started", pid=42, started_at="2026-01-01T00:00:00Z")
    assert rec["State"] == {"Status": "running", "Running": True, "Paused": False, "Restarting": False,
                            "OOMKilled": False, "Dead": False, "Pid": 42, "ExitCode": 0, "Error": "",
                            "StartedAt": "2026-01-01T00:00:00Z", "FinishedAt": timefmt.ZERO}


def test_exited_records_the_exit():
    rec = states.apply(record(), "started", pid=42, started_at="2026-01-01T00:00:00Z")
    states.apply(rec, "exited", exit_code=137, finished_at="2026-01-01T00:00:01Z", oom_killed=True, error="")
    state = rec["State"]
    assert (state["Status"], state["Running"], state["Pid"], state["ExitCode"], state["OOMKilled"]) == \
        ("exited", False, 0, 137, True)
    assert state["StartedAt"] == "2026-01-01T00:00:00Z" and state["FinishedAt"] == "2026-01-01T00:00:01Z"


def test_a_failed_start_keeps_a_created_container_created():
    rec = states.apply(record(), "start_failed", error="exec: no", exit_code=127)
    assert rec["State"]["Status"] == "created" and rec["State"]["ExitCode"] == 127
    rec = states.apply(record(states.RESTARTING), "start_failed", error="exec: no", exit_code=127)
    assert rec["State"]["Status"] == "exited" and not rec["State"]["Restarting"]


def test_restarting_and_its_end():
    rec = states.apply(record(states.EXITED), "restarting")
    assert rec["State"]["Status"] == "restarting" and rec["State"]["Restarting"]
    states.apply(rec, "stop_restarting")
    assert rec["State"]["Status"] == "exited" and not rec["State"]["Restarting"]


@pytest.mark.parametrize("move, status", [
    ("started", states.RUNNING), ("exited", states.CREATED), ("exited", states.EXITED),
    ("restarting", states.RUNNING), ("restarting", states.CREATED), ("stop_restarting", states.EXITED),
])
def test_illegal_moves_are_conflicts_and_change_nothing(move, status):
    rec = record(status)
    before = dict(rec["State"])
    with pytest.raises((errors.Conflict, errors.NotModified)):
        states.apply(rec, move, pid=1, started_at="", exit_code=0, finished_at="", oom_killed=False, error="")
    assert rec["State"] == before


@pytest.mark.parametrize("action, status, error", [
    ("start", states.RUNNING, errors.NotModified),
    ("stop", states.EXITED, errors.NotModified),
    ("stop", states.CREATED, errors.NotModified),
    ("remove", states.RUNNING, errors.Conflict),
    ("kill", states.EXITED, errors.Conflict),
    ("commit", states.REMOVING, errors.Conflict),
])
def test_refusals_are_dockers(action, status, error):
    with pytest.raises(error):
        states.check(action, status, "c" * 64)


def test_every_move_and_action_has_its_states():
    for action, allowed in states.ALLOWED.items():
        assert allowed and allowed <= {states.CREATED, states.RUNNING, states.PAUSED, states.RESTARTING,
                                       states.EXITED, states.REMOVING, states.DEAD}, action


# ------------------------------------------------------------ pause, unpause

def test_paused_freezes_a_running_container_and_unpaused_thaws_it():
    rec = states.apply(record(), "started", pid=42, started_at="2026-01-01T00:00:00Z")
    states.apply(rec, "paused")
    state = rec["State"]
    assert (state["Status"], state["Running"], state["Paused"], state["Pid"]) == ("paused", True, True, 42)
    states.apply(rec, "unpaused")
    assert (state["Status"], state["Running"], state["Paused"], state["Pid"]) == ("running", True, False, 42)


def test_a_paused_container_may_stop_be_killed_and_its_exit_clears_paused():
    rec = states.apply(states.apply(record(), "started", pid=42, started_at="2026-01-01T00:00:00Z"), "paused")
    for action in ("stop", "kill", "commit", "attach", "removing"):
        states.check(action, states.PAUSED, rec["Id"])
    states.apply(rec, "exited", exit_code=137, finished_at="2026-01-01T00:00:01Z", oom_killed=False, error="")
    assert (rec["State"]["Status"], rec["State"]["Running"], rec["State"]["Paused"]) == ("exited", False, False)


@pytest.mark.parametrize("status, message", [
    (states.CREATED, "Container cccccccccccc is not running"),
    (states.EXITED, "Container cccccccccccc is not running"),
    (states.PAUSED, "Container cccccccccccc is already paused"),
    (states.RESTARTING, "Container cccccccccccc is restarting, wait until the container is running"),
])
def test_pause_refusals_are_dockers(status, message):
    with pytest.raises(errors.Conflict, match=f"^{message}$"):
        states.apply(record(status), "paused")


@pytest.mark.parametrize("status", [states.CREATED, states.RUNNING, states.EXITED, states.RESTARTING])
def test_unpause_of_a_container_not_paused_is_a_conflict(status):
    with pytest.raises(errors.Conflict, match="^Container cccccccccccc is not paused$"):
        states.apply(record(status), "unpaused")


def test_remove_of_a_paused_container_without_force_is_dockers_conflict():
    with pytest.raises(errors.Conflict, match="You cannot remove a paused container cccccccccccc"):
        states.check("remove", states.PAUSED, "c" * 64)
