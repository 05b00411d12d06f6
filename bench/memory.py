"""Memory: an idle daemon's PSS and RSS summed over every one of its processes (and each
process's), then with 20 running containers whose log and stdio are busy, and per
container (what the shims, the containers and everything else added, over 20), all from
/proc/<pid>/smaps_rollup. The anonymous part of the PSS is shown too: the file-backed part
(the interpreter, its libraries) is shared with every other process on the host that maps
the same files, so it moves with what else runs.

    python bench/memory.py [--containers 20] [--output-bytes 1048576] [--detail]

Dockyard's processes are supervisord (services.supervision, the parent of the service
that owns the socket) and all its descendants: the services, the shim zygote, the shims
and the containers' processes. Each container writes `--output-bytes` to its stdout at
once, then a `top -b` screen every second for as long as it runs.

Measures the daemon at DOCKYARD_HOST (unix:///path), or starts a temporary one (busybox
imported, then the daemon restarted, so the idle figure is a fresh daemon's after a few
requests, not the import's). Where the kernel's ksmd runs (dockyardd turns it on:
memory-merge), each state is measured once ksmd's merging has settled (two or three
minutes with the kernel's default rate), and ksmd's CPU over the whole
measurement is shown beside the memory. With DOCKER_PEER=unix:///path (a Docker Engine with a
busybox image) it measures dockerd, containerd, the containerd-shims and their
containers the same way and prints the ratios. Run as root (it reads other processes'
smaps_rollup).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import procmem  # noqa: E402
from bench.version_rps import unix_path  # noqa: E402
from tests.integration.containers import ensure_busybox  # noqa: E402
from tests.integration.daemon import Daemon, UnixHTTPConnection, discard, free_port, new_root  # noqa: E402

MiB = 1024 * 1024
LINE = "dockyard-memory-bench-" + "x" * 200   # one line of the output burst
WARM_UP = ("/_ping", "/version", "/info", "/containers/json?all=1", "/images/json")
SAMPLES = 3            # snapshots per state; the one with the median total PSS is shown
KSM = "/sys/kernel/mm/ksm"
SETTLE_LIMIT = 900     # seconds to wait for ksmd's merging of a state to settle


class Engine:
    """One engine under measurement: its socket, and how to find its processes."""

    name = ""

    def __init__(self, sock: str):
        self.sock = sock
        self.created: list[str] = []

    def call(self, method: str, path: str, body: dict | None = None, timeout: float = 120) -> bytes:
        conn = UnixHTTPConnection(self.sock, timeout=timeout)
        data = json.dumps(body).encode() if body is not None else None
        try:
            conn.request(method, "/v1.41" + path, body=data,
                         headers={"Content-Type": "application/json"} if data else {})
            r = conn.getresponse()
            out = r.read()
        finally:
            conn.close()
        if r.status >= 400:
            raise SystemExit(f"{self.name}: {method} {path} answered {r.status}: {out[:300]!r}")
        return out

    def pids(self) -> set[int]:
        raise NotImplementedError

    def role(self, proc: procmem.Proc, containers: set[int]) -> str:
        raise NotImplementedError

    def snapshot(self) -> list[procmem.Proc]:
        """The engine's processes now: of SAMPLES snapshots a second apart, the median."""
        shots = []
        for i in range(SAMPLES):
            if i:
                time.sleep(1)
            shots.append(procmem.snapshot(self.pids()))
        shots.sort(key=lambda procs: procmem.total(procs, "Pss"))
        return shots[len(shots) // 2]

    def container_pids(self) -> set[int]:
        """The containers' processes (each one's init and what it started)."""
        pids = set()
        for cid in self.created:
            pid = json.loads(self.call("GET", f"/containers/{cid}/json"))["State"]["Pid"]
            if pid:
                pids.add(pid)
        return procmem.with_descendants(pids)

    def run_containers(self, count: int, output_bytes: int) -> None:
        command = f"yes {LINE} | head -c {output_bytes}; exec top -b -d 1"
        for _ in range(count):
            out = self.call("POST", "/containers/create", {"Image": "busybox", "Cmd": ["sh", "-c", command]})
            cid = json.loads(out)["Id"]
            self.created.append(cid)
            self.call("POST", f"/containers/{cid}/start")
        deadline = time.monotonic() + 120
        while not self._all_at_top():   # the burst written: each container's init is top now
            if time.monotonic() > deadline:
                raise SystemExit(f"{self.name}: the containers did not finish their output burst")
            time.sleep(0.2)
        time.sleep(2)   # the last of the burst read and logged

    def _all_at_top(self) -> bool:
        for cid in self.created:
            state = json.loads(self.call("GET", f"/containers/{cid}/json"))["State"]
            if not state["Running"]:
                raise SystemExit(f"{self.name}: container {cid[:12]} is not running: {state}")
            try:
                with open(f"/proc/{state['Pid']}/comm") as fh:
                    if fh.read().strip() != "top":
                        return False
            except OSError:
                return False
        return True

    def remove_containers(self) -> None:
        for cid in self.created:
            with contextlib.suppress(SystemExit):
                self.call("DELETE", f"/containers/{cid}?force=1")
        self.created.clear()


class Dockyard(Engine):
    name = "dockyard"

    def __init__(self, sock: str):
        super().__init__(sock)
        owners = procmem.socket_owners(sock)
        if not owners:
            raise SystemExit(f"no process holds {sock}")
        self.supervisord = procmem.ppid_of(min(owners))   # the api's parent

    def pids(self) -> set[int]:
        roots = {self.supervisord}
        # Shims outlive a zygote that went: count those of our containers wherever they are.
        wanted = {f"dockyard-shim {cid}" for cid in self.created}
        roots |= {pid for pid in procmem.all_pids() if procmem.title(pid) in wanted}
        return procmem.with_descendants(roots)

    def role(self, proc: procmem.Proc, containers: set[int]) -> str:
        if proc.pid in containers:
            return "container"
        if proc.pid == self.supervisord:
            return "supervisord"
        if proc.title == "dockyard-shim-zygote":
            return "zygote"
        if proc.title.startswith("dockyard-shim "):
            return "shim"
        if proc.title.startswith("dockyard-"):
            return proc.title[len("dockyard-"):].split()[0]
        return "other: " + proc.title[:40]


class Docker(Engine):
    name = "docker"
    SHIMS = ("containerd-shim", "containerd-shim-runc-v2", "containerd-shim-runc-v1")

    def __init__(self, sock: str):
        super().__init__(sock)
        dockerd = procmem.named(("dockerd",))
        owners = procmem.socket_owners(os.path.realpath(sock)) | procmem.socket_owners(sock)
        self.dockerd = (owners & dockerd) or dockerd   # systemd may hold a socket-activated one too
        if not self.dockerd:
            raise SystemExit(f"no dockerd found for {sock}")

    def pids(self) -> set[int]:
        roots = self.dockerd | procmem.named(("containerd",) + self.SHIMS)
        return procmem.with_descendants(roots)

    def role(self, proc: procmem.Proc, containers: set[int]) -> str:
        if proc.pid in containers:
            return "container"
        base = os.path.basename(proc.title.split(" ", 1)[0])
        if base in self.SHIMS:
            return "containerd-shim"
        if base in ("dockerd", "containerd", "docker-proxy"):
            return base
        return "other: " + proc.title[:40]


def ksm(name: str) -> int | None:
    try:
        with open(f"{KSM}/{name}") as fh:
            return int(fh.read())
    except (OSError, ValueError):
        return None


def ksmd_cpu() -> float:
    """Seconds of CPU the kernel's ksmd thread has used (0 where there is none)."""
    for pid in procmem.all_pids():
        try:
            with open(f"/proc/{pid}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        if stat[stat.index("(") + 1:stat.rindex(")")] == "ksmd":
            fields = stat[stat.rindex(")") + 2:].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def settle_merging(engine: Engine) -> None:
    """With ksmd running (dockyardd's memory-merge), wait until its merging has settled:
    two full scans in a row that merged next to nothing more (under 2% of the pages it
    shares). A page is merged only once two scans found it unchanged and another like
    it, so new processes take it a few scans; the figure is then that of a daemon some
    minutes on, not of its first seconds. An engine none of whose processes is marked
    mergeable (Docker's) has nothing to wait for (ksmd, with nothing to scan, sleeps)."""
    if ksm("run") != 1 or not any(procmem.mergeable(pid) for pid in engine.pids()):
        return
    deadline = time.monotonic() + SETTLE_LIMIT
    scans, sharing, calm = ksm("full_scans"), ksm("pages_sharing"), 0
    while calm < 2:
        while ksm("full_scans") == scans:
            if time.monotonic() > deadline:
                print(f"{engine.name}: ksmd's merging did not settle in {SETTLE_LIMIT} s; measuring anyway")
                return
            time.sleep(1)
        scans, before, sharing = ksm("full_scans"), sharing, ksm("pages_sharing")
        calm = calm + 1 if sharing - before < max(64, before // 50) else 0


def measure(engine: Engine, count: int, output_bytes: int) -> dict:
    for path in WARM_UP:
        engine.call("GET", path)
    began, ksmd_began = time.monotonic(), ksmd_cpu()
    settle_merging(engine)
    idle = engine.snapshot()
    try:
        engine.run_containers(count, output_bytes)
        settle_merging(engine)
        containers = engine.container_pids()
        busy = engine.snapshot()
    finally:
        engine.remove_containers()
    ksmd_share = (ksmd_cpu() - ksmd_began) / (time.monotonic() - began)
    return {"idle": idle, "busy": busy, "containers": containers, "count": count, "ksmd": ksmd_share}


def mib(value: int) -> str:
    return f"{value / MiB:8.2f}"


def print_processes(engine: Engine, procs: list[procmem.Proc], containers: set[int], detail: bool) -> None:
    head = f"  {'pid':>7} {'role':16} {'PSS':>8} {'RSS':>8}"
    if detail:
        head += f" {'private':>8} {'shared':>8} {'PssAnon':>8} {'PssFile':>8}"
    print(head)
    for p in procs:
        line = f"  {p.pid:7} {engine.role(p, containers):16} {mib(p.mem['Pss'])} {mib(p.mem['Rss'])}"
        if detail:
            line += f" {mib(p.private)} {mib(p.shared)} {mib(p.mem['Pss_Anon'])} {mib(p.mem['Pss_File'])}"
        print(line)


def print_roles(engine: Engine, procs: list[procmem.Proc], containers: set[int]) -> None:
    roles: dict[str, list[procmem.Proc]] = {}
    for p in procs:
        roles.setdefault(engine.role(p, containers), []).append(p)
    print(f"  {'role':16} {'count':>5} {'PSS':>8} {'RSS':>8} {'PSS each':>9}")
    for role, members in roles.items():
        pss = procmem.total(members, "Pss")
        print(f"  {role:16} {len(members):5} {mib(pss)} {mib(procmem.total(members, 'Rss'))} "
              f"{mib(statistics.mean(p.mem['Pss'] for p in members))}")


def summary(engine: Engine, result: dict) -> dict[str, float]:
    idle, busy, count = result["idle"], result["busy"], result["count"]
    shims = [p for p in busy if engine.role(p, result["containers"]) in ("shim", "containerd-shim")]
    return {
        "idle PSS": procmem.total(idle, "Pss") / MiB,
        "idle PSS anonymous": procmem.total(idle, "Pss_Anon") / MiB,
        "idle RSS": procmem.total(idle, "Rss") / MiB,
        f"PSS with {count}": procmem.total(busy, "Pss") / MiB,
        f"RSS with {count}": procmem.total(busy, "Rss") / MiB,
        "per container PSS": (procmem.total(busy, "Pss") - procmem.total(idle, "Pss")) / count / MiB,
        "per container RSS": (procmem.total(busy, "Rss") - procmem.total(idle, "Rss")) / count / MiB,
        "shim PSS each": procmem.total(shims, "Pss") / max(len(shims), 1) / MiB,
        "ksmd CPU, % of a core": 100 * result["ksmd"],
    }


def report(engine: Engine, result: dict, detail: bool) -> dict[str, float]:
    print(f"== {engine.name}: idle, per process (MiB)")
    print_processes(engine, result["idle"], set(), detail)
    print(f"== {engine.name}: with {result['count']} running containers, per role (MiB)")
    print_roles(engine, result["busy"], result["containers"])
    return summary(engine, result)


@contextlib.contextmanager
def dockyard_socket():
    """DOCKYARD_HOST's socket, or a temporary daemon's: busybox imported, then restarted."""
    if os.environ.get("DOCKYARD_HOST"):
        yield unix_path(os.environ["DOCKYARD_HOST"])
        return
    daemon = Daemon(new_root(), free_port()).start()
    try:
        ensure_busybox(daemon)
        daemon.stop()
        daemon.start()
        yield daemon.sock
    finally:
        discard(daemon)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--containers", type=int, default=20)
    p.add_argument("--output-bytes", type=int, default=1024 * 1024,
                   help="what each container writes to its stdout at once before its top -b")
    p.add_argument("--detail", action="store_true", help="private, shared, anonymous and file pages too")
    args = p.parse_args()
    figures = {}
    with dockyard_socket() as sock:
        ours = Dockyard(sock)
        figures["dockyard"] = report(ours, measure(ours, args.containers, args.output_bytes), args.detail)
    if os.environ.get("DOCKER_PEER"):
        theirs = Docker(unix_path(os.environ["DOCKER_PEER"]))
        figures["docker"] = report(theirs, measure(theirs, args.containers, args.output_bytes), args.detail)
    print("== summary (MiB)")
    names = list(figures)
    print(f"  {'':22}" + "".join(f"{n:>10}" for n in names) + ("     ratio" if len(names) == 2 else ""))
    for key in figures["dockyard"]:
        row = f"  {key:22}" + "".join(f"{figures[n][key]:10.2f}" for n in names)
        if len(names) == 2 and figures["docker"][key] and not key.startswith("ksmd"):
            row += f"{figures['dockyard'][key] / figures['docker'][key]:9.2f}x"
        print(row)
    if len(names) == 1:
        print("no DOCKER_PEER set: no Docker Engine to compare with")


if __name__ == "__main__":
    main()
