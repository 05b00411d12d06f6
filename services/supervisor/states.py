"""Container states and the one table of which action each state allows."""

from __future__ import annotations

from services.common import errors

CREATED, RUNNING, PAUSED, RESTARTING, EXITED, REMOVING, DEAD = (
    "created", "running", "paused", "restarting", "exited", "removing", "dead")

# action -> states it may start from. An action from any other state is refused with
# the error `_REFUSALS` names for it (Not Modified where Docker answers 304).
ALLOWED: dict[str, set[str]] = {
    "start": {CREATED, EXITED, RESTARTING},
    "stop": {RUNNING, RESTARTING, PAUSED},
    "kill": {RUNNING, RESTARTING, PAUSED},
    "restart": {CREATED, RUNNING, EXITED, RESTARTING},
    "remove": {CREATED, EXITED, DEAD},
    "commit": {CREATED, RUNNING, EXITED, PAUSED},
    "attach": {CREATED, RUNNING, EXITED, RESTARTING, PAUSED},
    "exited": {RUNNING, RESTARTING, PAUSED},
}

_REFUSALS = {
    ("start", RUNNING): (errors.NotModified, "container {id} is already started"),
    ("stop", CREATED): (errors.NotModified, "container {id} is already stopped"),
    ("stop", EXITED): (errors.NotModified, "container {id} is already stopped"),
    ("remove", RUNNING): (errors.Conflict, "You cannot remove a running container {id}. "
                                           "Stop the container before attempting removal or force remove"),
    ("kill", CREATED): (errors.Conflict, "Container {id} is not running"),
    ("kill", EXITED): (errors.Conflict, "Container {id} is not running"),
}


def check(action: str, state: str, container_id: str) -> None:
    if state in ALLOWED[action]:
        return
    cls, text = _REFUSALS.get((action, state), (
        errors.Conflict, f"cannot {action} container {{id}}: it is {state}"))
    raise cls(text.format(id=container_id[:12]))
