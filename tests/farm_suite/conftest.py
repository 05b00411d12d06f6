"""Each pytest-xdist worker's testcontainers pointed at a farm host of its own.

DOCKYARD_FARM lists the farm's hosts ("tcp://10.0.0.2:2376,tcp://10.0.0.3:2376"): worker
gw<N> takes the N-th (round robin when there are more workers than hosts; without xdist,
the first) and talks to it over TLS with the client certificate in DOCKER_CERT_PATH
(ca.pem, cert.pem, key.pem; deploy/certs.sh client). Without DOCKYARD_FARM the suite runs
against whatever DOCKER_HOST names, as any testcontainers suite does. deploy/FARM.md
shows this pattern.
"""

from __future__ import annotations

import os


def farm_host() -> str | None:
    hosts = [h.strip() for h in os.environ.get("DOCKYARD_FARM", "").split(",") if h.strip()]
    if not hosts:
        return None
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return hosts[int(worker.removeprefix("gw")) % len(hosts)]


# Set before testcontainers (and docker-py under it) is imported or makes a client: a
# conftest is loaded before the test modules beside it.
if (host := farm_host()) is not None:
    os.environ["DOCKER_HOST"] = host
    os.environ["DOCKER_TLS_VERIFY"] = "1"
    os.environ.setdefault("DOCKER_CERT_PATH", os.path.expanduser("~/.docker"))
# Ryuk, testcontainers' reaper, is an image from Docker Hub; each test removes its own
# container instead (DockerContainer as a context manager).
os.environ["TESTCONTAINERS_RYUK_DISABLED"] = "true"

import pytest  # noqa: E402

from httpd_site import Site  # noqa: E402


@pytest.fixture(autouse=True)
def docker_host(record_property) -> str:
    """The host this test's containers run on, in the JUnit report (docker_host)."""
    record_property("docker_host", os.environ.get("DOCKER_HOST", ""))
    return os.environ.get("DOCKER_HOST", "")


@pytest.fixture
def site():
    """Start a busybox httpd container serving the given files: site(files, ...) -> Site.
    Every container started is removed at the test's end, whatever happened."""
    started: list[Site] = []

    def start(files: dict[str, str] | None = None, **options) -> Site:
        s = Site(files or {}, **options)
        started.append(s)
        return s.start()

    yield start
    for s in reversed(started):
        s.stop()
