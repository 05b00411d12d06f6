"""Services under supervisord: restarted on demand and after kill -9; callers never hang."""

from __future__ import annotations

import concurrent.futures
import http.client
import os
import signal
import subprocess
import time

import pytest

from ..polling import until
from .daemon import SERVICES, WIRE_SERVICES
from .leaks import fd_links


def test_all_services_running(daemon):
    status = daemon.supervisorctl("status")
    for service in SERVICES:
        assert any(line.split()[:2] == [service, "RUNNING"] for line in status.splitlines()), status


def test_supervisorctl_restart_api(daemon):
    old = daemon.pid("api")
    daemon.supervisorctl("restart", "api")
    assert daemon.wait_new_pid("api", old) != old
    daemon.wait_ready(15)
    assert daemon.get("/version").status == 200
    assert daemon.get("/info").status == 200


def _unread(pid: int) -> bool:
    """Whether a connection or bytes wait on a socket of `pid`, unread (`ss` of iproute2
    says: Recv-Q, for a listening socket the connections not yet accepted)."""
    inodes = {link[len("socket:["):-1] for link in fd_links(pid) if link.startswith("socket:[")}
    out = subprocess.run(["ss", "-xanH"], capture_output=True, text=True, check=True).stdout
    # u_str STATE RECV-Q SEND-Q LOCAL-PATH-OR-* INODE PEER PEER-INODE
    return any(int(f[2]) > 0 and f[5] in inodes for f in map(str.split, out.splitlines()) if len(f) >= 6)


def _in_flight(daemon, pid: int, call):
    """Freeze `pid`, start `call` so that it is waiting on it, then kill -9 it."""
    os.kill(pid, signal.SIGSTOP)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(call)
        until(lambda: _unread(pid), 10, f"the call to reach the frozen process {pid}", interval=0.02)
        os.kill(pid, signal.SIGKILL)
        start = time.monotonic()
        outcome = future.result(timeout=15)
        return outcome, time.monotonic() - start


@pytest.mark.parametrize("service", WIRE_SERVICES)
def test_kill_9_of_a_service_fails_in_flight_request_and_recovers(daemon, service):
    assert daemon.get("/info").status == 200  # the api is connected to every service
    old = daemon.pid(service)
    reply, waited = _in_flight(daemon, old, lambda: daemon.get("/info", timeout=20))
    assert reply.status == 503, reply.body
    assert service in reply.json()["message"]
    assert waited < 5
    daemon.wait_new_pid(service, old)
    until(lambda: daemon.get("/info").status == 200, 20, f"/info to answer with a new {service}", interval=0.2,
          detail=daemon.log)


def test_kill_9_of_the_api_drops_in_flight_connection_and_recovers(daemon):
    old = daemon.pid("api")

    def call():
        try:
            return daemon.get("/info", timeout=20)
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            return exc

    outcome, waited = _in_flight(daemon, old, call)
    assert isinstance(outcome, Exception), outcome  # a clear error, not a hang
    assert waited < 5
    daemon.wait_new_pid("api", old)
    daemon.wait_ready(20)
