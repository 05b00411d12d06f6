"""Network speed: create+start+wait+remove of `true` on the default bridge and with
`--network none` (median, p90), and the throughput of one TCP stream from the host
through a published port on 127.0.0.1 into a container that discards it.

    python bench/network.py [--runs 30] [--megabytes 512]

Measures the daemon at DOCKYARD_HOST (unix:///path), or starts a temporary one (with
networks of its own); with DOCKER_PEER=unix:///path (a Docker Engine with a busybox
image) it measures that too and prints ratios. Traffic goes only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.containers import Client  # noqa: E402
from bench.version_rps import dockyard, unix_path  # noqa: E402
from tests.integration.containers import ensure_busybox  # noqa: E402
from tests.polling import until  # noqa: E402

SINK_PORT = 5000


def run_true(sock: str, mode: str, runs: int) -> tuple[float, float]:
    client = Client(sock)
    client.host_config = {"NetworkMode": mode}
    client.run_true()  # warm up
    times = sorted(client.run_true() for _ in range(runs))
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.9))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _send(port: int, total: int) -> float | None:
    """Seconds to send `total` bytes to 127.0.0.1:port and see the sink close; None if the
    sink does not listen yet."""
    chunk = b"\0" * (1 << 20)
    try:
        conn = socket.create_connection(("127.0.0.1", port), timeout=30)
    except OSError:
        return None
    with conn:
        start = time.perf_counter()
        try:
            for _ in range(total // len(chunk)):
                conn.sendall(chunk)
            conn.shutdown(socket.SHUT_WR)
            if conn.recv(1) != b"":
                return None
        except OSError:
            return None
        return time.perf_counter() - start


def throughput(sock: str, megabytes: int) -> float:
    """MB/s of one TCP stream through a published port (a fresh sink container per try)."""
    client = Client(sock)
    port = free_port()
    _, out = client.call("POST", "/containers/create", {
        "Image": "busybox", "Cmd": ["sh", "-c", f"while true; do nc -l -p {SINK_PORT} > /dev/null; done"],
        "ExposedPorts": {f"{SINK_PORT}/tcp": {}},
        "HostConfig": {"PortBindings": {f"{SINK_PORT}/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}}})
    cid = json.loads(out)["Id"]
    try:
        client.call("POST", f"/containers/{cid}/start")
        until(lambda: _send(port, 1 << 20) is not None, 30, "the sink to listen", interval=0.1)
        best = min(until(lambda: _send(port, megabytes << 20), 30, "a whole transfer", interval=0.1)
                   for _ in range(3))
        return megabytes / best
    finally:
        client.call("DELETE", f"/containers/{cid}?force=1")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--megabytes", type=int, default=512)
    args = p.parse_args()
    engines = {}
    with dockyard(prepare=ensure_busybox) as ours:
        engines["dockyard"] = (run_true(ours, "bridge", args.runs), run_true(ours, "none", args.runs),
                               throughput(ours, args.megabytes))
    if os.environ.get("DOCKER_PEER"):
        peer = unix_path(os.environ["DOCKER_PEER"])
        engines["docker"] = (run_true(peer, "bridge", args.runs), run_true(peer, "none", args.runs),
                             throughput(peer, args.megabytes))
    for name, (bridge, none, rate) in engines.items():
        print(f"{name:9} run --rm true: bridge median {bridge[0] * 1000:6.1f} ms p90 {bridge[1] * 1000:6.1f} ms;"
              f"  none median {none[0] * 1000:6.1f} ms p90 {none[1] * 1000:6.1f} ms;"
              f"  published port: {rate:7.0f} MB/s")
    if "docker" in engines:
        mine, theirs = engines["dockyard"], engines["docker"]
        print(f"ratio dockyard/docker (time, lower is faster): bridge {mine[0][0] / theirs[0][0]:.2f}, "
              f"none {mine[1][0] / theirs[1][0]:.2f}; throughput dockyard/docker (higher is better): "
              f"{mine[2] / theirs[2]:.2f}")
    else:
        print("no DOCKER_PEER set: no Docker Engine to compare with (Docker 20.10 here, per issue 11: "
              "418 ms on its bridge, 340 ms with none)")


if __name__ == "__main__":
    main()
