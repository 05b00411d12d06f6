"""docker cp speed: a 100 MB file copied into a running container and back out (MB/s, the
median of a few copies each way).

    python bench/cp.py [--mb 100] [--runs 5]

Measures the daemon at DOCKYARD_HOST (unix:///path), or starts a temporary one; with
DOCKER_PEER=unix:///path (a Docker Engine with a busybox image) it measures that too and
prints the ratios. A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tarfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import docker  # noqa: E402

from bench.version_rps import dockyard, unix_path  # noqa: E402
from tests.integration.containers import ensure_busybox  # noqa: E402


def archive(mb: int) -> bytes:
    """A tar of one file of `mb` MB of incompressible data."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("big.bin")
        data = os.urandom(mb << 20)
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def measure(sock: str, body: bytes, runs: int) -> tuple[float, float]:
    """(MB/s in, MB/s out): the medians of `runs` copies each way."""
    client = docker.DockerClient(base_url=f"unix://{sock}", version="1.41", timeout=600)
    ctr = client.containers.run("busybox", ["tail", "-f", "/dev/null"], detach=True)
    mb = len(body) / 1e6
    with tarfile.open(fileobj=io.BytesIO(body)) as tf:
        size = tf.next().size
    try:
        ins, outs = [], []
        for _ in range(runs):
            start = time.perf_counter()
            if not ctr.put_archive("/tmp", body):
                raise SystemExit(f"{sock}: the copy in failed")
            ins.append(mb / (time.perf_counter() - start))
            start = time.perf_counter()
            stream, stat = ctr.get_archive("/tmp/big.bin")
            got = sum(len(chunk) for chunk in stream)
            outs.append(mb / (time.perf_counter() - start))
            if stat["name"] != "big.bin" or stat["size"] != size or got < size:
                raise SystemExit(f"{sock}: the copy out answered {stat} and {got} bytes")
        return statistics.median(ins), statistics.median(outs)
    finally:
        ctr.remove(force=True)
        client.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mb", type=int, default=100)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    body = archive(args.mb)
    results = {}
    with dockyard(prepare=ensure_busybox) as ours:
        results["dockyard"] = measure(ours, body, args.runs)
    if os.environ.get("DOCKER_PEER"):
        results["docker"] = measure(unix_path(os.environ["DOCKER_PEER"]), body, args.runs)
    for name, (into, out) in results.items():
        print(f"{name:9} cp {args.mb} MB in: {into:7.1f} MB/s   out: {out:7.1f} MB/s")
    if "docker" in results:
        ours, theirs = results["dockyard"], results["docker"]
        print(f"ratio dockyard/docker (higher is faster): in {ours[0] / theirs[0]:.2f}  out {ours[1] / theirs[1]:.2f}")
    else:
        print("no DOCKER_PEER set: no Docker Engine to compare with")


if __name__ == "__main__":
    main()
