"""Exec speed: the round trip of `exec echo hi` in a running container (create the exec,
start it attached, read its output to the end), median and p90.

    python bench/exec.py [--runs 50]

Measures the daemon at DOCKYARD_HOST (unix:///path), or starts a temporary one; with
DOCKER_PEER=unix:///path (a Docker Engine with a busybox image) it measures that too and
prints the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import docker  # noqa: E402

from bench.version_rps import dockyard, unix_path  # noqa: E402
from tests.integration.containers import ensure_busybox  # noqa: E402


def measure(sock: str, runs: int) -> tuple[float, float]:
    client = docker.DockerClient(base_url=f"unix://{sock}", version="1.41")
    ctr = client.containers.run("busybox", ["sleep", "600"], detach=True)
    try:
        ctr.exec_run(["echo", "hi"])   # warm up
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            code, out = ctr.exec_run(["echo", "hi"])
            times.append(time.perf_counter() - start)
            if code != 0 or out != b"hi\n":
                raise SystemExit(f"{sock}: exec answered {code} {out!r}")
        times.sort()
        return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.9))]
    finally:
        ctr.remove(force=True)
        client.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=50)
    args = p.parse_args()
    results = {}
    with dockyard(prepare=ensure_busybox) as ours:
        results["dockyard"] = measure(ours, args.runs)
    if os.environ.get("DOCKER_PEER"):
        results["docker"] = measure(unix_path(os.environ["DOCKER_PEER"]), args.runs)
    for name, (median, p90) in results.items():
        print(f"{name:9} exec echo hi: median {median * 1000:6.1f} ms  p90 {p90 * 1000:6.1f} ms")
    if "docker" in results:
        print(f"ratio dockyard/docker (lower is faster): {results['dockyard'][0] / results['docker'][0]:.2f}")
    else:
        print("no DOCKER_PEER set: no Docker Engine to compare with")


if __name__ == "__main__":
    main()
