"""Container states: the one table of which move each state allows, and the moves themselves.

`check(action, state, id)` says whether an action may start from a state (Conflict, or
Not Modified where Docker answers 304); `apply(record, move, ...)` checks a move and
makes it, writing every State field the move changes. Nothing else writes a State.
"""

from __future__ import annotations

from services.common import errors, timefmt

CREATED, RUNNING, PAUSED, RESTARTING, EXITED, REMOVING, DEAD = (
    "created", "running", "paused", "restarting", "exited", "removing", "dead")

# action or move -> states it may start from. An action from any other state is refused
# with the error `_REFUSALS` names for it (Not Modified where Docker answers 304).
ALLOWED: dict[str, set[str]] = {
    # Actions a client asks for.
    "start": {CREATED, EXITED, RESTARTING},
    "stop": {RUNNING, RESTARTING, PAUSED},
    "kill": {RUNNING, RESTARTING, PAUSED},
    "restart": {CREATED, RUNNING, EXITED, RESTARTING},
    "remove": {CREATED, EXITED, DEAD},
    "commit": {CREATED, RUNNING, EXITED, PAUSED},
    "attach": {CREATED, RUNNING, EXITED, RESTARTING, PAUSED},
    # Moves the supervisor makes.
    "started": {CREATED, EXITED, RESTARTING},
    "start_failed": {CREATED, EXITED, RESTARTING},
    "exited": {RUNNING, RESTARTING, PAUSED},
    "restarting": {EXITED},
    "stop_restarting": {RESTARTING},
    "removing": {CREATED, EXITED, DEAD, REMOVING, RUNNING, PAUSED, RESTARTING},
    # Pause and unpause: a client's action and the move it makes are one.
    "paused": {RUNNING},
    "unpaused": {PAUSED},
}

_REFUSALS = {
    ("start", RUNNING): (errors.NotModified, "container {id} is already started"),
    ("stop", CREATED): (errors.NotModified, "container {id} is already stopped"),
    ("stop", EXITED): (errors.NotModified, "container {id} is already stopped"),
    ("remove", RUNNING): (errors.Conflict, "You cannot remove a running container {id}. "
                                           "Stop the container before attempting removal or force remove"),
    ("remove", RESTARTING): (errors.Conflict, "You cannot remove a restarting container {id}. "
                                              "Stop the container before attempting removal or force remove"),
    ("kill", CREATED): (errors.Conflict, "Container {id} is not running"),
    ("kill", EXITED): (errors.Conflict, "Container {id} is not running"),
    ("remove", PAUSED): (errors.Conflict, "You cannot remove a paused container {id}. "
                                          "Unpause and then stop the container before attempting removal "
                                          "or force remove"),
    ("paused", PAUSED): (errors.Conflict, "Container {id} is already paused"),
    ("paused", RESTARTING): (errors.Conflict, "Container {id} is restarting, wait until the container is running"),
}
for _state in (CREATED, EXITED, REMOVING, DEAD):
    _REFUSALS[("paused", _state)] = (errors.Conflict, "Container {id} is not running")
for _state in (CREATED, RUNNING, RESTARTING, EXITED, REMOVING, DEAD):
    _REFUSALS[("unpaused", _state)] = (errors.Conflict, "Container {id} is not paused")


def initial() -> dict:
    """The State of a container just created."""
    return {"Status": CREATED, "Running": False, "Paused": False, "Restarting": False, "OOMKilled": False,
            "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "", "StartedAt": timefmt.ZERO,
            "FinishedAt": timefmt.ZERO}


def check(action: str, state: str, container_id: str) -> None:
    if state in ALLOWED[action]:
        return
    cls, text = _REFUSALS.get((action, state), (
        errors.Conflict, f"cannot {action} container {{id}}: it is {state}"))
    raise cls(text.format(id=container_id[:12]))


def apply(rec: dict, move: str, **facts) -> dict:
    """Make `move` on the record's State (checked against the table); the record back.

    started        pid, started_at (and probed: it has a health check): it runs
    start_failed   error, exit_code: it could not start (created stays created)
    exited         exit_code, finished_at, oom_killed, error: its process ended
    restarting     its restart policy will start it again
    stop_restarting a client stopped it while it waited to restart
    removing       its removal has begun (a crash finishes it at the next start)
    paused         its cgroup is frozen (it still runs: Running stays true)
    unpaused       its cgroup is thawed
    """
    state = rec["State"]
    check(move, state["Status"], rec["Id"])
    if move == "started":
        state.update(Status=RUNNING, Running=True, Paused=False, Restarting=False, OOMKilled=False,
                     Dead=False, Pid=facts["pid"], ExitCode=0, Error="", StartedAt=facts["started_at"],
                     FinishedAt=timefmt.ZERO)
        if facts.get("probed"):   # it has a health check: probed again from the start
            state["Health"] = {"Status": "starting", "FailingStreak": 0,
                               "Log": (state.get("Health") or {}).get("Log") or []}
    elif move == "start_failed":
        state.update(Status=CREATED if state["Status"] == CREATED else EXITED, Running=False,
                     Restarting=False, Pid=0, Error=facts["error"], ExitCode=facts["exit_code"])
    elif move == "exited":
        state.update(Status=EXITED, Running=False, Paused=False, Restarting=False, Pid=0,
                     ExitCode=facts["exit_code"], FinishedAt=facts["finished_at"],
                     OOMKilled=facts["oom_killed"], Error=facts["error"])
        if state.get("Health") is not None:   # its probes ended: Docker says unhealthy
            state["Health"]["Status"] = "unhealthy"
    elif move == "restarting":
        state.update(Status=RESTARTING, Restarting=True)
    elif move == "stop_restarting":
        state.update(Status=EXITED, Restarting=False)
    elif move == "removing":
        state.update(Status=REMOVING)
    elif move == "paused":
        state.update(Status=PAUSED, Paused=True)
    elif move == "unpaused":
        state.update(Status=RUNNING, Paused=False)
    else:
        raise ValueError(f"no such move: {move}")
    return rec
