"""Build speed: a 5-step Dockerfile (FROM, COPY of a few files, two RUNs, CMD), built cold
(nocache) and warm (every step cached); medians.

    python bench/build.py [--runs 10]

Measures the daemon at DOCKYARD_HOST (unix:///path), or starts a temporary one; with
DOCKER_PEER=unix:///path (a Docker Engine with a busybox image) it measures that too,
with its classic builder, and prints ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.version_rps import dockyard, unix_path  # noqa: E402
from tests.integration.builds import context, messages  # noqa: E402
from tests.integration.containers import ensure_busybox  # noqa: E402
from tests.integration.daemon import UnixHTTPConnection  # noqa: E402

DOCKERFILE = """\
FROM busybox
COPY files/ /app/
RUN cat /app/* > /app/all
RUN wc -c /app/all > /app/count
CMD ["cat", "/app/count"]
"""
CONTEXT = context({"Dockerfile": DOCKERFILE, **{f"files/f{i}.txt": f"file {i}\n" * 100 for i in range(5)}})


def build(sock: str, nocache: bool) -> float:
    start = time.perf_counter()
    conn = UnixHTTPConnection(sock, timeout=300)
    conn.request("POST", "/v1.41/build?rm=1&forcerm=1" + ("&nocache=1" if nocache else ""), body=CONTEXT,
                 headers={"Content-Type": "application/x-tar"})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    elapsed = time.perf_counter() - start
    if r.status != 200 or any("error" in m for m in messages(body)):
        raise SystemExit(f"{sock}: the build failed: {body[-300:]!r}")
    return elapsed


def measure(sock: str, runs: int) -> tuple[float, float]:
    build(sock, nocache=False)   # warm up (and fill the cache)
    cold = statistics.median(build(sock, nocache=True) for _ in range(runs))
    warm = statistics.median(build(sock, nocache=False) for _ in range(runs))
    return cold, warm


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=10)
    args = p.parse_args()
    results = {}
    with dockyard(prepare=ensure_busybox) as ours:
        results["dockyard"] = measure(ours, args.runs)
    if os.environ.get("DOCKER_PEER"):
        results["docker"] = measure(unix_path(os.environ["DOCKER_PEER"]), args.runs)
    print(f"{'engine':<10} {'cold (nocache)':>16} {'warm (cached)':>15}")
    for name, (cold, warm) in results.items():
        print(f"{name:<10} {cold * 1000:>13.0f} ms {warm * 1000:>12.1f} ms")
    if "docker" in results:
        (c1, w1), (c2, w2) = results["dockyard"], results["docker"]
        print(f"ratio dockyard/docker: cold {c1 / c2:.2f}, warm {w1 / w2:.2f}")


if __name__ == "__main__":
    main()
