"""What a daemon must not leave behind, checked at the end of the session (with the daemon
still running) and after any test daemon is discarded.

Every check is scoped to one daemon's root, cgroup parent and processes, and its networks
to the links marked as its own, its nft table and its namespace handles: other daemons
(other sessions, other engineers' trees) may run on the same host at the same time.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from services.common.sockets import SERVICES, shim_name
from services.kernel import firewall, links, netns

from ..polling import until
from .containers import create, inspect, start, wait
from .images import busybox_rootfs, compress
from .test_images_v1 import import_image

# How many more fds a service may hold at the end of the session than after the warm-up:
# pooled connections (to the other services, to shims, to registries) come and go. A leak
# of one fd per container, request or pull would pass this many times over in a session.
FD_GROWTH = 25
NAMESPACE_FD = re.compile(r"^(cgroup|ipc|mnt|net|pid|pid_for_children|time|user|uts):\[\d+\]$")


# ------------------------------------------------------------------ processes


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    state: str


def processes() -> dict[int, Proc]:
    """Every process of the host, as /proc/<pid>/stat tells it."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                fields = fh.read().rpartition(")")[2].split()  # after "pid (comm)"
        except OSError:
            continue
        table[int(name)] = Proc(int(name), int(fields[1]), fields[0])
    return table


def descendants(roots: set[int], table: dict[int, Proc], leaves: set[int] = frozenset()) -> set[int]:
    """`roots` and every process below them, but not below `leaves`."""
    children: dict[int, list[int]] = {}
    for p in table.values():
        children.setdefault(p.ppid, []).append(p.pid)
    found, todo = set(), [r for r in roots if r in table]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo += [] if pid in leaves else children.get(pid, [])
    return found


def fd_links(pid: int) -> list[str]:
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return []
    links = []
    for fd in names:
        try:
            links.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    return links


def shims_of(root: str) -> dict[str, int]:
    """The live shims of the daemon under `root`: container id -> pid. A shim is known by
    its title and by its working directory or an open file under that root."""
    root = root.rstrip("/") + "/"
    shims = {}
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{name}/cmdline", "rb") as fh:
                title = fh.read().split(b"\0")[0].decode(errors="replace")
            cwd = os.readlink(f"/proc/{name}/cwd")
        except OSError:
            continue
        if title.startswith("dockyard-shim ") and (
                (cwd + "/").startswith(root) or any(link.startswith(root) for link in fd_links(int(name)))):
            shims[title.split()[1]] = int(name)
    return shims


def service_pids(daemon) -> dict[str, int]:
    """dockyardd (supervisord), each service, and the shim zygote: name -> pid."""
    pids = {"dockyardd": daemon.proc.pid}
    for service in SERVICES:
        pids[service] = daemon.pid(service)
    table = processes()
    for p in table.values():
        if p.ppid == pids["supervisor"]:
            try:
                with open(f"/proc/{p.pid}/cmdline", "rb") as fh:
                    if fh.read().startswith(b"dockyard-shim-zygote"):
                        pids["zygote"] = p.pid
            except OSError:
                pass
    return pids


def service_fds(daemon) -> dict[str, tuple[int, int]]:
    """name -> (pid, number of open fds) of dockyardd, its services and the zygote."""
    return {name: (pid, len(fd_links(pid))) for name, pid in service_pids(daemon).items()}


# ------------------------------------------------------------------- the checks


def _running(daemon) -> set[str]:
    r = daemon.get("/v1.45/containers/json")
    assert r.status == 200, r.body
    return {c["Id"] for c in r.json()}


def _known(daemon) -> set[str]:
    r = daemon.get("/v1.45/containers/json?all=1")
    assert r.status == 200, r.body
    return {c["Id"] for c in r.json()}


def _in_container(pid: int, ids: set[str]) -> bool:
    """Whether the process is in the cgroup of one of these containers."""
    try:
        with open(f"/proc/{pid}/cgroup") as fh:
            return any(line.rstrip("\n").rsplit("/", 1)[-1] in ids for line in fh)
    except OSError:
        return False


def host_mounts(daemon) -> list[str]:
    """Mounts on the host (our mount namespace) of anything under the daemon's root: a
    container's rootfs is mounted in its own namespace only. (A data root that is a mount
    of its own, as a test's small disk, is the operator's.)"""
    with open("/proc/self/mountinfo") as fh:
        return [line.strip() for line in fh
                if daemon.root + "/" in line and line.split()[4] != daemon.data_root]


def container_namespaces(daemon, running: set[str]) -> dict[str, list[int]]:
    """Mount namespaces holding this daemon's mounts (a container's) that no running
    container's process lives in: mnt:[inode] -> the pids that keep it alive."""
    own = os.readlink("/proc/self/ns/mnt")
    found: dict[str, list[int]] = {}
    checked: dict[str, bool] = {}
    for pid in processes():
        try:
            ns = os.readlink(f"/proc/{pid}/ns/mnt")
        except OSError:
            continue
        if ns == own or _in_container(pid, running):
            continue
        if ns not in checked:
            try:
                with open(f"/proc/{pid}/mountinfo") as fh:
                    checked[ns] = daemon.root + "/" in fh.read()
            except OSError:
                continue
        if checked[ns]:
            found.setdefault(ns, []).append(pid)
    return found


def zombies(daemon) -> list[Proc]:
    """Exited children that dockyardd, a service, the zygote or a shim has not reaped
    (those of a container's own processes are the container's business)."""
    table = processes()
    shims = set(shims_of(daemon.root).values())
    ours = descendants({daemon.proc.pid, *shims}, table, leaves=shims)
    return [p for p in table.values() if p.state == "Z" and p.ppid in ours]


def fd_growth(daemon, warm: dict[str, tuple[int, int]]) -> dict[str, str]:
    """Services holding more fds than after the warm-up (beyond FD_GROWTH), or any fd
    of a namespace or of a removed file under the daemon's root."""
    grown = {}
    for name, pid in service_pids(daemon).items():
        links = fd_links(pid)
        held = [link for link in links if NAMESPACE_FD.match(link)
                or (link.startswith(daemon.root + "/") and link.endswith(" (deleted)"))]
        before_pid, before = warm.get(name, (None, 0))
        restarted = "" if pid == before_pid else f" (restarted: pid {before_pid} then {pid})"
        if len(links) - before > FD_GROWTH or held:
            grown[name] = f"{before} fds after the warm-up, {len(links)} now{restarted}" + (
                f"; holds {held}" if held else "")
    return grown


def session_leaks(daemon, warm: dict[str, tuple[int, int]]) -> dict[str, object]:
    """What the running daemon has left behind, by kind (empty: nothing): anything of
    containers that are gone or no longer run, staging, unreaped children, fds."""
    running, known = _running(daemon), _known(daemon)
    left: dict[str, object] = {}
    # No container directory without its container.
    dirs = set(os.listdir(os.path.join(daemon.data_root, "containers")))
    if dirs != known:
        left["container directories"] = {"without a container": sorted(dirs - known),
                                         "missing": sorted(known - dirs)}
    # No shim of this daemon but those of running containers.
    shims = shims_of(daemon.root)
    if set(shims) - running:
        left["shims"] = {cid: pid for cid, pid in shims.items() if cid not in running}
    # No mount of its root on the host, and no container mount namespace kept alive.
    if mounts := host_mounts(daemon):
        left["mounts on the host"] = mounts
    if namespaces := container_namespaces(daemon, running):
        left["mount namespaces"] = namespaces
    # No cgroup but those of its containers that run.
    for base in daemon.cgroup_dirs():
        cgroups = {e.name for e in os.scandir(base) if e.is_dir()} - running
        if cgroups:
            left[f"cgroups in {base}"] = sorted(cgroups)
    # No socket but the services', the zygote's and those of running containers' shims.
    wanted = {f"{name}.sock" for name in (*SERVICES, "zygote", *map(shim_name, running))}
    if sockets := set(os.listdir(os.path.join(daemon.exec_root, "sock"))) - wanted:
        left["sockets"] = sorted(sockets)
    # No staging leftovers.
    for service in os.listdir(os.path.join(daemon.data_root, "tmp")):
        if staged := os.listdir(os.path.join(daemon.data_root, "tmp", service)):
            left[f"staging of {service}"] = staged
    if dead := zombies(daemon):
        left["zombies"] = [(p.pid, f"child of {p.ppid}") for p in dead]
    left.update(network_leaks(daemon, running))
    if grown := fd_growth(daemon, warm):
        left["fds"] = grown
    return left


def network_leaks(daemon, running: set[str]) -> dict[str, object]:
    """Of its networks, what no network or running container holds: links it made (its
    mark: the bridges of its networks and its running containers' veths stay), namespace
    handles, and published ports in its firewall table."""
    left: dict[str, object] = {}
    r = daemon.get("/v1.45/networks")
    assert r.status == 200, r.body
    bridges = {net["Options"].get("com.docker.network.bridge.name") or f"dy-{net['Id'][:12]}"
               for net in r.json() if net["Driver"] == "bridge"}
    veths = set()
    for cid in running:
        rec = daemon.get(f"/v1.45/containers/{cid}/json").json()
        veths |= {"dyv" + ep["EndpointID"][:11] for ep in rec["NetworkSettings"]["Networks"].values()
                  if ep.get("EndpointID")}
    if stray := set(links.owned(f"dockyard:{daemon.bridge}")) - bridges - veths:
        left["links"] = sorted(stray)
    handles = os.path.join(daemon.exec_root, "netns")
    if os.path.isdir(handles) and (stray := set(os.listdir(handles)) - {cid[:12] for cid in running}):
        left["network namespace handles"] = sorted(stray)
    if not running and "dnat to" in (table := firewall.listing(daemon.bridge)):
        left["published ports"] = [line.strip() for line in table.splitlines() if "dnat to" in line]
    return left


def discard_networks(daemon) -> None:
    """What a stopped daemon leaves by design of its networks (as dockerd leaves docker0
    and its rules): its namespace handles, links and firewall table, taken away."""
    handles = os.path.join(daemon.exec_root, "netns")
    for name in os.listdir(handles) if os.path.isdir(handles) else []:
        netns.remove(os.path.join(handles, name))
    for name in links.owned(f"dockyard:{daemon.bridge}"):
        links.remove(name)
    links.remove(daemon.bridge)
    firewall.remove(daemon.bridge)


def check_session(daemon, at_start: dict[str, tuple[int, int]], warm: dict[str, tuple[int, int]],
                  timeout: float = 30) -> None:
    """Fail, saying what is left, unless the daemon settles (shims of removed containers
    exit on their own a couple of seconds after their container) to holding nothing."""
    def settled() -> bool:
        left = session_leaks(daemon, warm)
        assert not left, left
        return True
    until(settled, timeout, "the daemon to hold nothing of removed containers", interval=0.2,
          detail=lambda: f"fds at the session's start {at_start}, after the warm-up {warm}")


def check_discarded(daemon, timeout: float = 30) -> None:
    """After a daemon is stopped and its containers' processes killed: their shims exit
    and nothing of its root stays mounted on the host."""
    until(lambda: not shims_of(daemon.root), timeout, f"the shims of {daemon.root} to exit",
          interval=0.2, detail=lambda: f"left: {shims_of(daemon.root)}")
    discard_networks(daemon)
    assert not host_mounts(daemon), host_mounts(daemon)
    assert not links.owned(f"dockyard:{daemon.bridge}") and not links.exists(daemon.bridge)
    assert firewall.listing(daemon.bridge) == ""


def warm_up(daemon) -> None:
    """What opens the connections a service keeps (the api's to each service, the
    supervisor's zygote and its first shim, the store's), leaving no state behind: an
    image imported, a container run and attached to, both removed."""
    image = import_image(daemon, compress(busybox_rootfs(), "gzip"), "dockyard-warm-up", "latest")
    cid = create(daemon, Image="dockyard-warm-up:latest", Cmd=["echo", "warm"])
    start(daemon, cid)
    assert wait(daemon, cid) == 0
    assert daemon.request("POST", f"/containers/{cid}/attach?logs=1&stdout=1").body == b"warm\n"
    assert inspect(daemon, cid)["State"]["ExitCode"] == 0
    for path in ("/_ping", "/version", "/info", "/v1.45/containers/json?all=1", "/v1.45/images/json"):
        assert daemon.get(path).status == 200, path
    assert daemon.request("DELETE", f"/containers/{cid}?v=1").status == 204
    r = daemon.request("DELETE", "/v1.45/images/dockyard-warm-up:latest")
    assert r.status == 200 and daemon.get(f"/v1.45/images/{image}/json").status == 404, (r.status, r.body)
    until(lambda: not shims_of(daemon.root), 30, "the warm-up container's shim to exit", interval=0.2)
