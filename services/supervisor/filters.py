"""The container list's filters and the container prune's choice, matched against container
records as dockerd matches them (moby daemon/list.go, daemon/prune.go).

`check` refuses bad values with Docker's words; `select` is the list, in the order given
(newest first); both are pure. `image_family` and `tree_size` read the store or the disk.
"""

from __future__ import annotations

import os
import re
import stat

from services.common import errors, timefmt
from services.common import filters as common

from . import states

STATUSES = (states.CREATED, states.RUNNING, states.PAUSED, states.RESTARTING, states.REMOVING,
            states.EXITED, states.DEAD)
HEALTHS = ("none", "starting", "healthy", "unhealthy")
# What a prune removes: containers that are not running (nor paused, nor waiting to restart).
PRUNABLE = (states.CREATED, states.EXITED, states.DEAD)
_PORT = re.compile(r"(\d+)(?:-(\d+))?(?:/([a-zA-Z]+))?")


def ports(key: str, value: str) -> set[str]:
    """The ports a publish or expose value names: `80`, `80/udp`, `8000-8010/tcp`."""
    if ":" in value:
        raise errors.BadParameter(f"filter for '{key}' should not contain ':': {value}")
    m = _PORT.fullmatch(value)
    start, end = (int(m.group(1)), int(m.group(2) or m.group(1))) if m else (0, -1)
    if not m or not 0 < start <= end <= 65535:
        raise errors.BadParameter(f"error while looking up for {key} {value}: invalid port range")
    proto = (m.group(3) or "tcp").lower()
    return {f"{port}/{proto}" for port in range(start, end + 1)}


def check(filters: dict[str, list[str]]) -> None:
    """Refuse a filter value Docker refuses."""
    for value in filters.get("exited") or []:
        try:
            int(value, 10)
        except ValueError:
            raise errors.BadParameter(
                f"invalid filter 'exited={value}': strconv.Atoi: parsing {value!r}: invalid syntax") from None
    for value in filters.get("status") or []:
        if value not in STATUSES:
            raise errors.BadParameter(f"invalid filter 'status={value}': invalid value for state ({value}): "
                                      f"must be one of {', '.join(STATUSES)}")
    common.get_bool(filters, "is-task", False)
    for value in filters.get("health") or []:
        if value not in HEALTHS:
            raise errors.BadParameter(f"invalid filter 'health={value}': invalid value for health ({value}): "
                                      f"must be one of {', '.join(HEALTHS)}")
    for key in ("publish", "expose"):
        for value in filters.get(key) or []:
            ports(key, value)


def _networks(rec: dict) -> tuple[set[str], list[str]]:
    """The names and ids of the networks a container is on."""
    settings = (rec.get("NetworkSettings") or {}).get("Networks")
    if settings:
        return set(settings), [n.get("NetworkID") or "" for n in settings.values() if isinstance(n, dict)]
    mode = (rec.get("HostConfig") or {}).get("NetworkMode") or "default"
    if mode.startswith("container:"):
        return set(), []
    return {"bridge" if mode == "default" else mode}, []


def _container_ports(rec: dict) -> tuple[set[str], set[str]]:
    """Its published (host) ports and its exposed (container) ports, as `port/proto`."""
    published, exposed = set(), set()
    bindings = (rec.get("HostConfig") or {}).get("PortBindings") or {}
    for key in [*((rec.get("Config") or {}).get("ExposedPorts") or {}), *bindings]:
        port, _, proto = str(key).partition("/")
        exposed.add(f"{port}/{proto or 'tcp'}")
    # A running container's real bindings (a chosen port too), else those it asks for.
    actual = (rec.get("NetworkSettings") or {}).get("Ports") or {}
    for key, hosts in (actual if any(actual.values()) else bindings).items():
        proto = str(key).partition("/")[2] or "tcp"
        for host in hosts or []:
            host_port = str((host or {}).get("HostPort") or "").partition("-")[0]
            if host_port:
                published.add(f"{host_port}/{proto}")
    return published, exposed


def wanted_ports(filters: dict[str, list[str]]) -> tuple[set[str], set[str]]:
    """The ports publish and expose filters name."""
    return tuple(set().union(*(ports(key, v) for v in filters.get(key) or []))  # type: ignore[return-value]
                 for key in ("publish", "expose"))


def matches(rec: dict, filters: dict[str, list[str]], images: set[str] | None = None,
            ids: set[str] | None = None, wanted: tuple[set[str], set[str]] | None = None) -> bool:
    """Whether a container passes every filter but before, since and the running default.
    `images`: the ids `ancestor` names (with their descendants); `ids`: those `id` names;
    `wanted`: the ports of publish and expose (worked out once for a whole list)."""
    state = rec["State"]
    name = rec.get("Name") or ""
    names = filters.get("name")
    if names and not (common.match(names, name) or common.match(names, name.lstrip("/"))):
        return False
    if filters.get("id") and (ids is None or rec["Id"] not in ids):
        return False
    if "is-task" in filters and common.get_bool(filters, "is-task", False):
        return False   # no swarm: no container is a task
    if not common.match_kv_list(filters.get("label"), (rec.get("Config") or {}).get("Labels")):
        return False
    if filters.get("exited"):
        started = state.get("StartedAt") not in (None, "", timefmt.ZERO)
        if state["Running"] or not started or state["ExitCode"] not in {int(v) for v in filters["exited"]}:
            return False
    if filters.get("status") and state["Status"] not in filters["status"]:
        return False
    health = (state.get("Health") or {}).get("Status") or "none"
    if filters.get("health") and health not in filters["health"]:
        return False
    if "volume" in filters:
        mounts = rec.get("Mounts") or []
        known = {m.get("Destination") for m in mounts} | {m.get("Name") or m.get("Source") for m in mounts}
        if not known & set(filters["volume"]):
            return False
    if "ancestor" in filters and rec.get("Image") not in (images or set()):
        return False
    if "network" in filters:
        names, network_ids = _networks(rec)
        if not any(v in names or any(i.startswith(v) for i in network_ids if i) for v in filters["network"]):
            return False
    if filters.get("publish") or filters.get("expose"):
        published, exposed = _container_ports(rec)
        wanted_published, wanted_exposed = wanted or wanted_ports(filters)
        if not (published & wanted_published or exposed & wanted_exposed):
            return False
    return True


def prefix_ids(rows: list[dict], prefixes: list[str]) -> set[str]:
    """The ids `id` filters name: each value a prefix of one container's id only (dockerd
    looks each up by prefix, and an ambiguous one finds none)."""
    out = set()
    for prefix in prefixes:
        found = [r["Id"] for r in rows if prefix and r["Id"].startswith(prefix)]
        if len(found) == 1:
            out.add(found[0])
    return out


def select(rows: list[dict], filters: dict[str, list[str]], show_all: bool, limit: int,
           before: str | None = None, since: str | None = None, images: set[str] | None = None) -> list[dict]:
    """The list: `rows` newest first; `before`/`since` the ids of those filters' containers."""
    show_all = show_all or bool(filters.get("status"))   # a status filter lists all, as in Docker
    ids = prefix_ids(rows, filters["id"]) if filters.get("id") else None
    wanted = wanted_ports(filters)
    out = []
    passed_before = before is None
    for rec in rows:
        if not passed_before:
            passed_before = rec["Id"] == before
            continue
        if since is not None and rec["Id"] == since:
            break
        if not rec["State"]["Running"] and not show_all and limit <= 0:
            continue
        if matches(rec, filters, images, ids, wanted):
            out.append(rec)
    return out[:limit] if limit > 0 else out


def image_family(store, names: list[str]) -> set[str]:
    """The images `ancestor` values name, and their descendants; a name that finds no image
    finds nothing (as dockerd, which only logs it)."""
    out: set[str] = set()
    for name in names:
        try:
            todo = [store.resolve(name)]
        except errors.DockyardError:
            continue
        while todo:
            image_id = todo.pop()
            if image_id not in out:
                out.add(image_id)
                todo.extend(store.children(image_id))
    return out


def prunable(rec: dict, until: float | None, label: list[str], label_not: list[str]) -> bool:
    """Whether a container prune removes it: stopped, created before `until`, its labels."""
    if rec["State"]["Status"] not in PRUNABLE:
        return False
    if until is not None:
        try:
            if timefmt.parse(rec["Created"]).timestamp() > until:
                return False
        except ValueError:
            return False
    return common.match_labels(label, label_not, (rec.get("Config") or {}).get("Labels"))


def tree_size(path: str) -> int:
    """Bytes of the files under `path` (a container's own layer), each inode once."""
    total, seen = 0, set()
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if not stat.S_ISDIR(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total
