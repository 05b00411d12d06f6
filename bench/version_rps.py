"""Requests per second of GET /version over a unix socket from one keep-alive client.

    python bench/version_rps.py [--seconds 5]

Measures the daemon at DOCKYARD_HOST (unix:///path), or starts a temporary one. With
DOCKER_PEER=unix:///var/run/docker.sock (a Docker Engine) it measures that too and
prints the ratio. A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.integration.daemon import Daemon, UnixHTTPConnection, discard, free_port, new_root  # noqa: E402


def rps(socket_path: str, seconds: float, path: str = "/version", method: str = "GET") -> float:
    conn = UnixHTTPConnection(socket_path, timeout=10)
    for _ in range(50):  # warm up: connections to services, caches
        conn.request(method, path)
        conn.getresponse().read()
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        conn.request(method, path)
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            raise SystemExit(f"{socket_path}: {method} {path} answered {r.status}")
        count += 1
    conn.close()
    return count / (time.perf_counter() - start)


def unix_path(url: str) -> str:
    if not url.startswith("unix://"):
        raise SystemExit(f"{url}: only unix:// hosts are measured")
    return url[len("unix://"):]


@contextlib.contextmanager
def dockyard(prepare=None):
    """The socket of the daemon to measure: DOCKYARD_HOST's, or a temporary daemon's."""
    if os.environ.get("DOCKYARD_HOST"):
        yield unix_path(os.environ["DOCKYARD_HOST"])
        return
    daemon = Daemon(new_root(), free_port()).start()
    try:
        if prepare:
            prepare(daemon)
        yield daemon.sock
    finally:
        discard(daemon)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=5.0)
    args = p.parse_args()
    with dockyard() as ours:
        mine = rps(ours, args.seconds)
        print(f"dockyard  GET /version: {mine:10.0f} req/s")
        peer = os.environ.get("DOCKER_PEER")
        if peer:
            theirs = rps(unix_path(peer), args.seconds)
            print(f"docker    GET /version: {theirs:10.0f} req/s")
            print(f"ratio dockyard/docker: {mine / theirs:.2f}x")
        else:
            print("no DOCKER_PEER set: no Docker Engine to compare with")


if __name__ == "__main__":
    main()
