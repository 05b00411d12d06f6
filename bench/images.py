"""Image store speed: importing a ~100 MB layer (MB/s), and GET /images/json with 200 images.

    python bench/images.py [--mb 100] [--imports 5] [--images 200]

Measures the daemon at DOCKYARD_HOST (unix:///path), or starts a temporary one; with
DOCKER_PEER=unix:///path (a Docker Engine) it measures that too and prints ratios.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tarfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.version_rps import dockyard, rps, unix_path  # noqa: E402
from tests.integration.daemon import UnixHTTPConnection  # noqa: E402


def layer(mb: int) -> bytes:
    """A layer of many files of incompressible data, about `mb` MB in all."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for i in range(mb):
            info = tarfile.TarInfo(f"data/{i // 10}/file-{i}.bin")
            data = os.urandom(1 << 20)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def post(sock: str, path: str, body: bytes) -> bytes:
    conn = UnixHTTPConnection(sock, timeout=600)
    conn.request("POST", path, body=body, headers={"Content-Type": "application/x-tar"})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    if r.status != 200 or b'"error"' in data:
        raise SystemExit(f"{sock}: POST {path} answered {r.status}: {data[:300]!r}")
    return data


def delete(sock: str, path: str) -> None:
    conn = UnixHTTPConnection(sock, timeout=60)
    conn.request("DELETE", path)
    conn.getresponse().read()
    conn.close()


def import_rate(sock: str, body: bytes, repo: str) -> float:
    start = time.perf_counter()
    post(sock, f"/v1.41/images/create?fromSrc=-&repo={repo}&tag=big", body)
    elapsed = time.perf_counter() - start
    delete(sock, f"/v1.41/images/{repo}:big")
    return len(body) / elapsed / 1e6


def list_rate(sock: str, count: int, seconds: float, repo: str) -> float:
    for i in range(count):
        small = io.BytesIO()
        with tarfile.open(fileobj=small, mode="w") as tf:
            data = f"image {i}".encode()
            info = tarfile.TarInfo(f"id-{i}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        post(sock, f"/v1.41/images/create?fromSrc=-&repo={repo}&tag=t{i}", small.getvalue())
    try:
        return rps(sock, seconds, "/v1.41/images/json")
    finally:
        for i in range(count):
            delete(sock, f"/v1.41/images/{repo}:t{i}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mb", type=int, default=100)
    p.add_argument("--imports", type=int, default=5, help="imports measured (the median is shown)")
    p.add_argument("--images", type=int, default=200)
    p.add_argument("--seconds", type=float, default=5.0)
    args = p.parse_args()
    body = layer(args.mb)
    results = {}

    def measure(name: str, sock: str) -> None:
        rates = sorted(import_rate(sock, body, "bench-import") for _ in range(args.imports))
        results[name] = (rates[len(rates) // 2], list_rate(sock, args.images, args.seconds, "bench-list"))
        print(f"{name:9} import {len(body) / 1e6:.0f} MB layer: {results[name][0]:8.1f} MB/s   "
              f"GET /images/json ({args.images} images): {results[name][1]:8.0f} req/s")
    with dockyard() as ours:
        measure("dockyard", ours)
    if os.environ.get("DOCKER_PEER"):
        measure("docker", unix_path(os.environ["DOCKER_PEER"]))
    if "docker" in results:
        mine, theirs = results["dockyard"], results["docker"]
        print(f"ratio dockyard/docker: import {mine[0] / theirs[0]:.2f}x, list {mine[1] / theirs[1]:.2f}x")
    else:
        print("no DOCKER_PEER set: no Docker Engine to compare with")


if __name__ == "__main__":
    main()
