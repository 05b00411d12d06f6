"""Container speed: create+start+wait+remove of `true` in sequence (median, p90), and 20 in
parallel, under each of Dockyard's runtimes (the built-in one, and runc).

    python bench/containers.py [--runs 30] [--parallel 20] [--runtime builtin --runtime runc]

Measures the daemon at DOCKYARD_HOST (unix:///path), or starts a temporary one; with
DOCKER_PEER=unix:///path (a Docker Engine with a busybox image, which it needs) it
measures that too (under its default runtime, runc) and prints ratios.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.version_rps import dockyard, unix_path  # noqa: E402
from tests.integration.containers import ensure_busybox  # noqa: E402
from tests.integration.daemon import UnixHTTPConnection  # noqa: E402


class Client:
    def __init__(self, sock: str, runtime: str | None = None):
        self.sock = sock
        self.host_config = {"NetworkMode": "none", **({"Runtime": runtime} if runtime else {})}

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        conn = UnixHTTPConnection(self.sock, timeout=120)
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, "/v1.41" + path, body=data,
                     headers={"Content-Type": "application/json"} if data else {})
        r = conn.getresponse()
        out = r.read()
        conn.close()
        if r.status >= 400:
            raise SystemExit(f"{self.sock}: {method} {path} answered {r.status}: {out[:200]!r}")
        return r.status, out

    def run_true(self) -> float:
        start = time.perf_counter()
        _, out = self.call("POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"],
                                                            "HostConfig": self.host_config})
        cid = json.loads(out)["Id"]
        self.call("POST", f"/containers/{cid}/start")
        self.call("POST", f"/containers/{cid}/wait")
        self.call("DELETE", f"/containers/{cid}")
        return time.perf_counter() - start


def measure(sock: str, runs: int, parallel: int, runtime: str | None = None) -> tuple[float, float, float]:
    client = Client(sock, runtime)
    client.run_true()  # warm up
    times = sorted(client.run_true() for _ in range(runs))
    median = statistics.median(times)
    p90 = times[min(len(times) - 1, int(len(times) * 0.9))]
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        list(pool.map(lambda _: client.run_true(), range(parallel)))
    return median, p90, time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--parallel", type=int, default=20)
    p.add_argument("--runtime", action="append", choices=("builtin", "runc"),
                   help="a runtime to measure (repeatable; default: both)")
    args = p.parse_args()
    results = {}
    with dockyard(prepare=ensure_busybox) as ours:
        for runtime in args.runtime or ["builtin", "runc"]:
            results[f"dockyard {runtime}"] = measure(ours, args.runs, args.parallel, runtime)
    if os.environ.get("DOCKER_PEER"):
        results["docker"] = measure(unix_path(os.environ["DOCKER_PEER"]), args.runs, args.parallel)
    for name, (median, p90, wall) in results.items():
        print(f"{name:16} run --rm true: median {median * 1000:7.1f} ms  p90 {p90 * 1000:7.1f} ms   "
              f"{args.parallel} in parallel: {wall:6.2f} s")
    if "docker" in results:
        theirs = results["docker"]
        for name, mine in results.items():
            if name != "docker":
                print(f"ratio {name}/docker (lower is faster): median {mine[0] / theirs[0]:.2f}, "
                      f"p90 {mine[1] / theirs[1]:.2f}, parallel {mine[2] / theirs[2]:.2f}")
    else:
        print("no DOCKER_PEER set: no Docker Engine to compare with")


if __name__ == "__main__":
    main()
