"""Leak soak: many run/kill/rm cycles with the api and shims killed now and then; what is
left afterwards must equal what was there before.

    python bench/soak.py [--rounds 500] [--kills 20] [--parallel 4]

Starts a temporary daemon. Each round creates a container, starts it, kills it, waits
for it and removes it; `--kills` times along the way the api (supervisord restarts it)
or the shim of a running container gets SIGKILL. Prints the leak snapshot before and
after (shims, zombies, mounts, cgroups, sockets, container dirs, staging entries, the
daemon's open fds) and exits 1 if anything grew.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.integration.containers import ensure_busybox  # noqa: E402
from tests.integration.daemon import Daemon, discard, free_port, new_root  # noqa: E402


def request(daemon: Daemon, method: str, path: str, body: dict | None = None, tries: float = 30):
    """A request that rides out a restarting api (refused connections, 503s)."""
    deadline = time.monotonic() + tries
    while True:
        try:
            r = daemon.request(method, "/v1.45" + path, body=json.dumps(body).encode() if body else None,
                               headers={"Content-Type": "application/json"} if body else {}, timeout=60)
            if r.status != 503:
                return r
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{method} {path}: no answer for {tries:g} s")
        time.sleep(0.1)


def cycle(daemon: Daemon) -> None:
    r = request(daemon, "POST", "/containers/create", {"Image": "busybox", "Cmd": ["sh", "-c", "echo up; sleep 30"]})
    if r.status != 201:
        raise SystemExit(f"create answered {r.status}: {r.body[:200]!r}")
    cid = r.json()["Id"]
    request(daemon, "POST", f"/containers/{cid}/start")
    request(daemon, "POST", f"/containers/{cid}/kill")
    request(daemon, "POST", f"/containers/{cid}/wait")
    r = request(daemon, "DELETE", f"/containers/{cid}?force=1")
    if r.status not in (204, 404):
        raise SystemExit(f"remove answered {r.status}: {r.body[:200]!r}")


def chaos(daemon: Daemon) -> str:
    shims = [pid for pid in _pids() if _cmdline(pid).startswith("dockyard-shim ") and _ours(pid, daemon)]
    if shims and random.random() < 0.5:
        os.kill(random.choice(shims), signal.SIGKILL)
        return "shim"
    try:
        os.kill(daemon.pid("api"), signal.SIGKILL)
    except RuntimeError:
        return "nothing (the api was restarting)"
    return "api"


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _ours(pid: int, daemon: Daemon) -> bool:
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}").startswith(daemon.root) for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def snapshot(daemon: Daemon) -> dict:
    zombies = 0
    for pid in _pids():
        try:
            with open(f"/proc/{pid}/stat") as fh:
                zombies += fh.read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            pass
    with open("/proc/self/mountinfo") as fh:
        mounts = sum(daemon.root in line for line in fh)
    staging = sum(len(os.listdir(os.path.join(daemon.data_root, "tmp", s)))
                  for s in os.listdir(os.path.join(daemon.data_root, "tmp")))
    return {
        "shims": sum(_cmdline(p).startswith("dockyard-shim ") and _ours(p, daemon) for p in _pids()),
        "zombies": zombies,
        "mounts": mounts,
        "cgroups": sum(len([e for e in os.scandir(base) if e.is_dir()]) for base in daemon.cgroup_dirs()),
        "sockets": len(os.listdir(os.path.join(daemon.exec_root, "sock"))),
        "container dirs": len(os.listdir(os.path.join(daemon.data_root, "containers"))),
        "staging": staging,
        "daemon fds": request(daemon, "GET", "/info").json()["NFd"],
    }


def settle(daemon: Daemon) -> dict:
    """The snapshot once lingering shims are gone (they stay a moment after their container)."""
    deadline = time.monotonic() + 30
    while True:
        snap = snapshot(daemon)
        if snap["shims"] == 0 or time.monotonic() > deadline:
            return snap
        time.sleep(0.5)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=500)
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--parallel", type=int, default=4)
    args = p.parse_args()
    daemon = Daemon(new_root(), free_port()).start()
    try:
        ensure_busybox(daemon)
        for _ in range(args.parallel):  # warm: the api's pooled connections, the zygote
            cycle(daemon)
        before = settle(daemon)
        kill_at = set(random.sample(range(args.rounds), min(args.kills, args.rounds)))
        kills: dict[str, int] = {}
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(args.parallel) as pool:
            futures = []
            for n in range(args.rounds):
                futures.append(pool.submit(cycle, daemon))
                if n in kill_at:
                    time.sleep(0.05)
                    what = chaos(daemon)
                    kills[what] = kills.get(what, 0) + 1
            for f in futures:
                f.result()
        elapsed = time.monotonic() - started
        after = settle(daemon)
    finally:
        discard(daemon)
    print(f"{args.rounds} cycles ({args.parallel} at once) in {elapsed:.1f} s; killed: "
          + ", ".join(f"{n} {what}" for what, n in sorted(kills.items())))
    grew = []
    for key in before:
        mark = ""
        if after[key] > before[key] + (3 if key == "daemon fds" else 0):
            mark, _ = "  <- grew", grew.append(key)
        print(f"  {key:15} {before[key]:6} -> {after[key]:6}{mark}")
    if grew:
        raise SystemExit(f"leaked: {', '.join(grew)}")
    print("no leak")


if __name__ == "__main__":
    main()
