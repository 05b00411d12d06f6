"""Listing and ping speed: requests per second of GET /containers/json?all=1 with 50 and with
500 containers, GET /images/json with 200 images, GET and HEAD /_ping and GET /version, each
from one keep-alive client on the unix socket for a fixed time.

    python bench/listing.py [--seconds 3] [--rounds 3] [--containers 50 --containers 500] [--images 200] [--lean]

Measures the daemon at DOCKYARD_HOST (unix:///path), or starts a temporary one; with
DOCKER_PEER=unix:///path (a Docker Engine with a busybox image) it measures that too, row by
row, the two engines taking turns in each round, so that both see the same noise. The
containers are created (not started), the images imported from tiny tars of their own; all
are removed at the end. Prints a table of medians with the ratio dockyard/docker (higher is
faster) and how many entries each list held (an engine's own containers and images count too).

The client is Python's http.client, as in version_rps.py (and the issue's figures): it costs
about as much as a fast server, so /_ping's row is partly the client's. `--lean` measures
with bench/keepalive.py's minimal client instead, which leaves the servers' own cost.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tarfile
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.keepalive import rate  # noqa: E402
from bench.version_rps import dockyard, rps, unix_path  # noqa: E402
from tests.integration.containers import ensure_busybox  # noqa: E402
from tests.integration.daemon import UnixHTTPConnection  # noqa: E402

API = "/v1.41"
REPO = f"bench-listing-{os.getpid()}"
PARALLEL = 4   # requests in flight while containers and images are made


class Engine:
    def __init__(self, name: str, sock: str):
        self.name, self.sock = name, sock
        self.containers: list[str] = []
        self.images: list[str] = []

    def call(self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json",
             ok: tuple[int, ...] = (200, 201, 204)) -> bytes:
        conn = UnixHTTPConnection(self.sock, timeout=120)
        try:
            conn.request(method, path, body=body, headers={"Content-Type": content_type} if body else {})
            r = conn.getresponse()
            data = r.read()
        finally:
            conn.close()
        if r.status not in ok:
            raise SystemExit(f"{self.name}: {method} {path} answered {r.status}: {data[:300]!r}")
        return data

    def count(self, path: str) -> int:
        return len(json.loads(self.call("GET", path)))

    def _create(self, i: int) -> str:
        body = {"Image": "busybox", "Cmd": ["true"], "Labels": {"bench-listing": REPO, "index": str(i)}}
        return json.loads(self.call("POST", f"{API}/containers/create", json.dumps(body).encode()))["Id"]

    def grow_containers(self, total: int) -> None:
        """Create containers (not started) until this run made `total`."""
        with ThreadPoolExecutor(PARALLEL) as pool:
            self.containers += pool.map(self._create, range(len(self.containers), total))

    def _import(self, i: int) -> str:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:   # a layer of its own: an image of its own
            data = f"{REPO} image {i}\n".encode()
            info = tarfile.TarInfo(f"id-{i}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        reply = self.call("POST", f"{API}/images/create?fromSrc=-&repo={REPO}&tag=t{i}", buf.getvalue(),
                          "application/x-tar")
        if b'"error"' in reply:
            raise SystemExit(f"{self.name}: importing an image failed: {reply[:300]!r}")
        return f"{REPO}:t{i}"

    def make_images(self, count: int) -> None:
        with ThreadPoolExecutor(PARALLEL) as pool:
            self.images += pool.map(self._import, range(count))

    def clean(self) -> None:
        with ThreadPoolExecutor(PARALLEL) as pool:
            list(pool.map(lambda cid: self.call("DELETE", f"{API}/containers/{cid}?force=1", ok=(204, 404)),
                          self.containers))
            list(pool.map(lambda ref: self.call("DELETE", f"{API}/images/{ref}", ok=(200, 404, 409)),
                          self.images))
        self.containers, self.images = [], []


def measure_row(engines: list[Engine], method: str, path: str, seconds: float, rounds: int,
                lean: bool) -> dict[str, float]:
    """The median rate of each engine over `rounds` rounds, the engines taking turns."""
    rates: dict[str, list[float]] = {e.name: [] for e in engines}
    for _ in range(rounds):
        for engine in engines:
            measure = rate if lean else rps
            rates[engine.name].append(measure(engine.sock, seconds, path, method))
    return {name: statistics.median(values) for name, values in rates.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=3.0, help="each measurement's length")
    p.add_argument("--rounds", type=int, default=3, help="measurements per row and engine (the median is shown)")
    p.add_argument("--containers", type=int, action="append", help="list with this many (repeatable; 50 and 500)")
    p.add_argument("--images", type=int, default=200)
    p.add_argument("--lean", action="store_true", help="measure with bench/keepalive.py's client, not http.client")
    args = p.parse_args()
    sizes = sorted(set(args.containers or [50, 500]))
    rows: list[tuple[str, str, dict[str, float], dict[str, int]]] = []

    def row(engines: list[Engine], label: str, method: str, path: str, listed: str | None = None) -> None:
        counts = {e.name: e.count(listed) for e in engines} if listed else {}
        rates = measure_row(engines, method, path, args.seconds, args.rounds, args.lean)
        rows.append((label, method, rates, counts))
        shown = "  ".join(f"{name} {rate:8.0f}/s" + (f" ({counts[name]} listed)" if counts else "")
                          for name, rate in rates.items())
        print(f"  {method:4} {label:34} {shown}", flush=True)

    with dockyard(prepare=ensure_busybox) as ours:
        engines = [Engine("dockyard", ours)]
        if os.environ.get("DOCKER_PEER"):
            engines.append(Engine("docker", unix_path(os.environ["DOCKER_PEER"])))
        try:
            row(engines, "/_ping", "GET", "/_ping")
            row(engines, "/_ping", "HEAD", "/_ping")
            row(engines, "/version", "GET", "/version")
            for size in sizes:
                for engine in engines:
                    engine.grow_containers(size)
                row(engines, f"/containers/json?all=1 ({size} made)", "GET", f"{API}/containers/json?all=1",
                    listed=f"{API}/containers/json?all=1")
            for engine in engines:
                engine.clean()
                engine.make_images(args.images)
            row(engines, f"/images/json ({args.images} made)", "GET", f"{API}/images/json",
                listed=f"{API}/images/json")
        finally:
            for engine in engines:
                engine.clean()
    names = [e.name for e in engines]
    print()
    print("| request | " + " | ".join(f"{n} req/s" for n in names) + (" | ratio |" if len(names) > 1 else " |"))
    print("|---|" + "---|" * (len(names) + (len(names) > 1)))
    for label, method, rates, _ in rows:
        cells = [f"{rates[n]:,.0f}" for n in names]
        if len(names) > 1:
            cells.append(f"{rates['dockyard'] / rates['docker']:.2f}x")
        print(f"| `{method} {label}` | " + " | ".join(cells) + " |")
    if len(names) == 1:
        print("no DOCKER_PEER set: no Docker Engine to compare with")


if __name__ == "__main__":
    main()
