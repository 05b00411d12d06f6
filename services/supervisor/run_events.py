"""The events of a container's run, as dockerd emits them at its start and at its exit.

At a start, its network controller reports each network the container joins (`connect`,
with the container's id) before the container's `start`. At an exit, dockerd's cleanup
releases the networks (`disconnect` from each) before it logs the `die`, which carries
the exit code and how long the container ran (`execDuration`, whole seconds). A
container that shares another's network namespace (container:<id>) joins no network of
its own: no network event. A connect or disconnect while it runs is the network room's
(one event each, there); the next exit disconnects what it is on then.
"""

from __future__ import annotations

from services.common import errors, timefmt

from .events import container_event, network_event
from .networks.store import Networks


def networks_of(rec: dict, networks: Networks) -> list[dict]:
    """The networks the container has an endpoint on, by its record (one removed since is
    left out)."""
    out = []
    for name, ep in ((rec.get("NetworkSettings") or {}).get("Networks") or {}).items():
        try:
            out.append(networks.find((ep or {}).get("NetworkID") or name))
        except errors.NotFound:
            continue
    return out


def ran_for(state: dict) -> int:
    """Docker's execDuration: the whole seconds from the start to the exit (0 if either
    time is unknown)."""
    try:
        seconds = (timefmt.parse(state["FinishedAt"]) - timefmt.parse(state["StartedAt"])).total_seconds()
    except (KeyError, ValueError):
        return 0
    return max(0, int(seconds))


def started(rec: dict, networks: Networks) -> None:
    """A start's events: `connect` on each of its networks, then `start`."""
    for net in networks_of(rec, networks):
        network_event(net, "connect", container=rec["Id"])
    container_event(rec, "start")


def exited(rec: dict, networks: Networks) -> None:
    """An exit's events (`rec` as its exit is recorded): `oom` if the kernel killed it for
    memory, `disconnect` from each of its networks, then `die`."""
    state = rec["State"]
    if state["OOMKilled"]:
        container_event(rec, "oom")
    for net in networks_of(rec, networks):
        network_event(net, "disconnect", container=rec["Id"])
    container_event(rec, "die", exitCode=state["ExitCode"], execDuration=ran_for(state))
