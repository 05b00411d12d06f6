"""Builds cut short: the client hangs up, the builder is killed. Nothing may be left behind,
and the next build works."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import time

from tests.polling import until

from .builds import build, built_id, containers, context, output
from .containers import ensure_busybox

SLOW = "FROM busybox\nCOPY marker /marker\nRUN echo started-step && sleep 300\nCMD true\n"


class _Unix(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def _start_slow_build(daemon, marker: str) -> tuple[_Unix, http.client.HTTPResponse]:
    """A build whose RUN sleeps, read until that RUN has started."""
    conn = _Unix(daemon.sock, 60)
    tar = context({"Dockerfile": SLOW, "marker": marker})
    conn.request("POST", "/v1.45/build?nocache=1", body=tar, headers={"Content-Type": "application/x-tar"})
    response = conn.getresponse()
    assert response.status == 200
    seen = []
    while not seen or seen[-1].get("stream") != "started-step\n":   # the RUN's own output
        line = response.readline()
        assert line, seen
        seen.append(json.loads(line))
    return conn, response


def _step_containers(daemon, before: set[str]) -> list[str]:
    return [c["Id"] for c in containers(daemon) if c["Id"] not in before]


def _staging(daemon) -> list[str]:
    path = os.path.join(daemon.data_root, "tmp", "builder")
    return os.listdir(path) if os.path.isdir(path) else []


def test_a_client_that_hangs_up_stops_the_build_and_its_container(daemon):
    ensure_busybox(daemon)
    before = {c["Id"] for c in containers(daemon)}
    conn, _ = _start_slow_build(daemon, "hangup")
    assert _step_containers(daemon, before), "the RUN step's container runs"
    hung_up = time.monotonic()
    conn.sock.shutdown(socket.SHUT_RDWR)
    conn.close()
    until(lambda: not _step_containers(daemon, before), 10, "the step's container to go")
    assert time.monotonic() - hung_up < 2   # the bound for a Ctrl-C
    until(lambda: not _staging(daemon), 10, "the build's staging to go")


def test_kill_9_of_the_builder_mid_build(fresh_daemon):
    daemon = fresh_daemon.start()
    ensure_busybox(daemon)
    before = {c["Id"] for c in containers(daemon)}
    old = daemon.pid("builder")
    conn, response = _start_slow_build(daemon, "killed")
    os.kill(old, signal.SIGKILL)
    rest = response.read().decode()
    assert '"error"' in rest, rest   # the client is told, in the stream
    conn.close()
    daemon.wait_new_pid("builder", old)
    until(lambda: not _step_containers(daemon, before), 15, "the step's container to go")
    until(lambda: not _staging(daemon), 10, "the dead build's staging to go")
    images = daemon.get("/v1.45/images/json?all=1").json()
    # The next build works, and its COPY step (done before the kill) comes from the cache.
    status, msgs = build(daemon, context({"Dockerfile": SLOW.replace("sleep 300", "true"), "marker": "killed"}))
    assert status == 200 and built_id(msgs)
    assert output(msgs).count("Using cache") == 1, output(msgs)
    assert len(daemon.get("/v1.45/images/json?all=1").json()) > len(images)
    mounts = open("/proc/self/mountinfo").read()
    assert daemon.data_root not in mounts
