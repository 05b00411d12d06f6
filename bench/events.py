"""Events throughput: the events per second a follower of GET /events receives while 20
containers run and exit in parallel (each one's create, start, die and destroy), and
whether every one of them arrived.

    python bench/events.py [--containers 20] [--rounds 3]

Measures the daemon at DOCKYARD_HOST (unix:///path), or starts a temporary one; with
DOCKER_PEER=unix:///path (a Docker Engine with a busybox image) it measures that too and
prints the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import docker  # noqa: E402

from bench.version_rps import dockyard, unix_path  # noqa: E402
from tests.integration.containers import ensure_busybox  # noqa: E402

# What each container's run --rm gives a follower, in Docker's actions.
PER_CONTAINER = ("create", "start", "die", "destroy")


def one_round(client: docker.DockerClient, count: int) -> tuple[float, int, int]:
    """(seconds from the first run to the last expected event, events received, expected)."""
    label = f"bench-events-{os.getpid()}-{time.monotonic_ns()}"
    expected = count * len(PER_CONTAINER)
    stream = client.events(decode=True, filters={"type": "container", "label": label})
    got: list[float] = []
    done = threading.Event()

    def follow() -> None:
        for event in stream:
            if event.get("Action") in PER_CONTAINER:
                got.append(time.perf_counter())
                if len(got) >= expected:
                    break
        done.set()
    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    start = time.perf_counter()
    with ThreadPoolExecutor(count) as pool:
        list(pool.map(lambda _: client.containers.run("busybox", ["true"], remove=True, labels=[label]),
                      range(count)))
    done.wait(60)
    stream.close()
    return ((got[-1] if got else time.perf_counter()) - start), len(got), expected


def measure(sock: str, containers: int, rounds: int) -> tuple[float, int, int]:
    client = docker.DockerClient(base_url=f"unix://{sock}", version="1.41")
    try:
        one_round(client, 2)   # warm up
        results = [one_round(client, containers) for _ in range(rounds)]
    finally:
        client.close()
    rate = statistics.median(received / seconds for seconds, received, _ in results)
    return rate, min(r[1] for r in results), results[0][2]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--containers", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    results = {}
    with dockyard(prepare=ensure_busybox) as ours:
        results["dockyard"] = measure(ours, args.containers, args.rounds)
    if os.environ.get("DOCKER_PEER"):
        results["docker"] = measure(unix_path(os.environ["DOCKER_PEER"]), args.containers, args.rounds)
    for name, (rate, fewest, expected) in results.items():
        print(f"{name:9} events delivered: median {rate:7.1f}/s  (fewest received in a round: "
              f"{fewest} of {expected})")
    if "docker" in results:
        print(f"ratio dockyard/docker (higher is faster): {results['dockyard'][0] / results['docker'][0]:.2f}")
    else:
        print("no DOCKER_PEER set: no Docker Engine to compare with")


if __name__ == "__main__":
    main()
