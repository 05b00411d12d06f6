"""Push and pull of a ~50 MB single-layer image against a local registry (MB/s).

    python bench/registry.py [--mb 50]

Starts Debian's docker-registry on a loopback port (tests/integration/registries.py), then measures the daemon at
DOCKYARD_HOST (unix:///path) or a temporary one; with DOCKER_PEER=unix:///path (a
Docker Engine) it measures that too and prints ratios.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tarfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.version_rps import dockyard, unix_path  # noqa: E402
from tests.integration.daemon import UnixHTTPConnection  # noqa: E402
from tests.integration.registries import running_registry  # noqa: E402


def call(sock: str, method: str, path: str, body: bytes | None = None) -> bytes:
    conn = UnixHTTPConnection(sock, timeout=600)
    # Docker wants X-Registry-Auth on a push, even when there is nothing to say: "{}".
    conn.request(method, "/v1.41" + path, body=body, headers={"X-Registry-Auth": "e30="})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    if r.status >= 400 or b'"error"' in data:
        raise SystemExit(f"{sock}: {method} {path} answered {r.status}: {data[-300:]!r}")
    return data


def measure(sock: str, registry: str, body: bytes, name: str) -> tuple[float, float]:
    repo = f"{registry}/bench/{name}"
    call(sock, "POST", f"/images/create?fromSrc=-&repo={repo}&tag=1", body)
    start = time.perf_counter()
    call(sock, "POST", f"/images/{repo}/push?tag=1")
    push = time.perf_counter() - start
    image = json.loads(call(sock, "GET", f"/images/{repo}:1/json"))["Id"]
    call(sock, "DELETE", f"/images/{image}?force=1")
    start = time.perf_counter()
    call(sock, "POST", f"/images/create?fromImage={repo}&tag=1")
    pull = time.perf_counter() - start
    call(sock, "DELETE", f"/images/{repo}:1")
    return len(body) / push / 1e6, len(body) / pull / 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mb", type=int, default=50)
    args = p.parse_args()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = os.urandom(args.mb << 20)
        info = tarfile.TarInfo("blob.bin")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    body = buf.getvalue()
    results = {}
    with running_registry() as registry:
        with dockyard() as ours:
            results["dockyard"] = measure(ours, registry, body, "dockyard")
        if os.environ.get("DOCKER_PEER"):
            results["docker"] = measure(unix_path(os.environ["DOCKER_PEER"]), registry, body, "docker")
    for name, (push, pull) in results.items():
        print(f"{name:9} {len(body) / 1e6:.0f} MB image: push {push:7.1f} MB/s   pull {pull:7.1f} MB/s")
    if "docker" in results:
        mine, theirs = results["dockyard"], results["docker"]
        print(f"ratio dockyard/docker: push {mine[0] / theirs[0]:.2f}x, pull {mine[1] / theirs[1]:.2f}x")
    else:
        print("no DOCKER_PEER set: no Docker Engine to compare with")


if __name__ == "__main__":
    main()
