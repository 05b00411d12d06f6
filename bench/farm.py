"""A test farm's wall time: the farm suite (tests/farm_suite: 36 testcontainers tests, each
a busybox httpd container whose published port it fetches) run with pytest-xdist spread
over one, two and three Dockyard hosts (one worker per host), beside the same suite on
one Docker Engine.

    python bench/farm.py [--runs 3] [--hosts 3]

The hosts are network namespaces of this machine, each with its own dockyardd on TCP with
TLS (tests/integration/farm.py); on this machine they share its cores, where a real
farm's hosts bring their own. With DOCKER_PEER=unix:///path (a Docker Engine with a
busybox:latest image) the suite also runs there, with one worker, and the table shows
Dockyard/Docker for one host. Each figure is the median of --runs runs of the whole
pytest command, start-up included, as a CI job sees it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.integration import farm as farms  # noqa: E402


def timed(env: dict[str, str], workers: int, runs: int) -> tuple[float, int]:
    """The median wall time of `runs` suite runs, and how many tests each ran."""
    times, count = [], 0
    for _ in range(runs):
        run = farms.run_suite(env, workers)
        if run.returncode != 0 or set(run.outcomes.values()) != {"passed"}:
            raise SystemExit(f"the farm suite failed ({workers} workers):\n{run.output[-4000:]}")
        times.append(run.seconds)
        count = len(run.outcomes)
    return statistics.median(times), count


def docker_env(peer: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in farms.FOREIGN_ENV}
    env["DOCKER_HOST"] = peer
    env["TESTCONTAINERS_RYUK_DISABLED"] = "true"
    return env


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--hosts", type=int, default=3, help="the largest farm measured (1 to N hosts)")
    args = p.parse_args()
    rows: dict[str, tuple[int, int, float, int]] = {}   # name -> hosts, workers, seconds, tests
    with farms.farm(args.hosts) as farm:
        timed(farm.env(1), 1, 1)   # warm up: every host's first containers, the page cache
        for n in range(1, args.hosts + 1):
            seconds, tests = timed(farm.env(n), n, args.runs)
            rows[f"dockyard, {n} host{'s' if n > 1 else ''}"] = (n, n, seconds, tests)
    peer = os.environ.get("DOCKER_PEER")
    if peer:
        seconds, tests = timed(docker_env(peer), 1, args.runs)
        rows["docker, 1 host"] = (1, 1, seconds, tests)

    print(f"{'engine':20} {'hosts':>5} {'workers':>7} {'tests':>5} {'wall (s)':>9} {'per test (ms)':>14}")
    for name, (hosts, workers, seconds, tests) in rows.items():
        print(f"{name:20} {hosts:5} {workers:7} {tests:5} {seconds:9.2f} {seconds / tests * 1000:14.0f}")
    one = rows["dockyard, 1 host"][2]
    if args.hosts > 1:
        most = rows[f"dockyard, {args.hosts} hosts"][2]
        print(f"ratio {args.hosts} hosts/1 host (aim <= 0.4): {most / one:.2f}")
    if peer:
        print(f"ratio dockyard/docker, 1 host (aim <= 0.5): {one / rows['docker, 1 host'][2]:.2f}")
    else:
        print("no DOCKER_PEER set: no Docker Engine to compare with")


if __name__ == "__main__":
    main()
