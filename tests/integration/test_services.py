"""Services under supervisord: restarted on demand and after kill -9; callers never hang."""

from __future__ import annotations

import concurrent.futures
import http.client
import os
import signal
import time

import pytest

from .daemon import SERVICES


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


def _in_flight(daemon, pid: int, call):
    """Freeze `pid`, start `call` so that it is waiting on it, then kill -9 it."""
    os.kill(pid, signal.SIGSTOP)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(call)
        time.sleep(0.3)
        os.kill(pid, signal.SIGKILL)
        start = time.monotonic()
        outcome = future.result(timeout=15)
        return outcome, time.monotonic() - start


@pytest.mark.parametrize("service", ["supervisor", "builder", "registry"])
def test_kill_9_of_a_service_fails_in_flight_request_and_recovers(daemon, service):
    assert daemon.get("/info").status == 200  # the api is connected to every service
    old = daemon.pid(service)
    reply, waited = _in_flight(daemon, old, lambda: daemon.get("/info", timeout=20))
    assert reply.status == 503, reply.body
    assert service in reply.json()["message"]
    assert waited < 5
    daemon.wait_new_pid(service, old)
    deadline = time.monotonic() + 20
    while daemon.get("/info").status != 200:
        assert time.monotonic() < deadline, daemon.log()
        time.sleep(0.2)


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
