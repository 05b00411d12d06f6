"""Restarts lose nothing: kill -9 of the api and the supervisor, exits while away, dead shims."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from ..polling import until
from .containers import create, ensure_busybox, inspect, remove, start, wait

COUNTER = ["sh", "-c", "i=0; while true; do echo $i; i=$((i+1)); usleep 10000; done"]


@pytest.fixture(scope="module", autouse=True)
def busybox(daemon):
    ensure_busybox(daemon)


def answers(daemon) -> bool:
    return daemon.get("/v1.45/containers/json", timeout=5).status == 200


def exited_state(daemon, cid: str) -> dict | None:
    state = inspect(daemon, cid)["State"]
    return None if state["Running"] else state


def shim_pid(cid: str) -> int:
    out = subprocess.run(["pgrep", "-f", f"dockyard-shim {cid}"], capture_output=True, text=True)
    pids = [int(p) for p in out.stdout.split()]
    assert len(pids) == 1, pids
    return pids[0]


def logged(daemon, cid: str) -> list[str]:
    """The numbers the counter has logged so far."""
    r = daemon.get(f"/v1.45/containers/{cid}/logs?stdout=1")
    assert r.status == 200, r.body
    out, numbers = r.body, []
    while out:  # multiplexed frames: 8-byte header, then the payload
        size = int.from_bytes(out[4:8], "big")
        numbers += out[8:8 + size].decode().split()
        out = out[8 + size:]
    return numbers


def test_kill_9_of_api_then_supervisor_loses_nothing(daemon):
    cid = create(daemon, Cmd=COUNTER)
    start(daemon, cid)
    before = inspect(daemon, cid)["State"]
    until(lambda: logged(daemon, cid), what="the counter's first line in its log")
    for service in ("api", "supervisor"):
        count = len(logged(daemon, cid))
        old = daemon.pid(service)
        os.kill(old, signal.SIGKILL)
        daemon.wait_new_pid(service, old)
        until(lambda: answers(daemon), what=f"{service} to answer again")
        # The supervisor adopts its containers before it answers: what it says now stands.
        state = inspect(daemon, cid)["State"]
        # The same process, still running: nothing restarted it.
        assert state["Running"] and state["Pid"] == before["Pid"] and state["StartedAt"] == before["StartedAt"]
        assert os.path.exists(f"/proc/{before['Pid']}")
        # And it went on logging meanwhile, served by the new service.
        until(lambda: len(logged(daemon, cid)) > count, what=f"the log to grow past {count} lines after {service}")
    until(lambda: len(logged(daemon, cid)) > 100, what="100 lines in the log")
    r = daemon.request("POST", f"/v1.45/containers/{cid}/stop?t=1")
    assert r.status == 204
    assert wait(daemon, cid) in (137, 143)
    numbers = logged(daemon, cid)
    assert numbers == [str(i) for i in range(len(numbers))], "a gap in the log"
    assert len(numbers) > 100
    remove(daemon, cid)


def test_exit_while_the_supervisor_is_down_is_recorded(daemon):
    cid = create(daemon, Cmd=["sh", "-c", "sleep 2; exit 42"])
    start(daemon, cid)
    pid = inspect(daemon, cid)["State"]["Pid"]
    daemon.supervisorctl("stop", "supervisor")
    try:
        until(lambda: not os.path.exists(f"/proc/{pid}"), 10, "the container to exit while the supervisor is down")
    finally:
        daemon.supervisorctl("start", "supervisor")
    until(lambda: answers(daemon), what="the supervisor")
    state = until(lambda: exited_state(daemon, cid), what="the exit to be recorded")
    assert state["ExitCode"] == 42 and state["Status"] == "exited"
    assert wait(daemon, cid) == 42
    remove(daemon, cid)


def test_exit_of_an_auto_remove_container_while_api_and_supervisor_are_killed(daemon):
    """It is removed once they are back, its exit recorded first for whoever waits."""
    cid = create(daemon, "/v1.45", Cmd=["sh", "-c", "sleep 2; exit 7"], HostConfig={"AutoRemove": True})
    start(daemon, cid, "/v1.45")
    full, pid = inspect(daemon, cid)["Id"], inspect(daemon, cid)["State"]["Pid"]
    for service in ("api", "supervisor"):
        os.kill(daemon.pid(service), signal.SIGKILL)
    # It exits meanwhile; supervisord brings both back.
    until(lambda: not os.path.exists(f"/proc/{pid}"), 10, "the container to exit")
    until(lambda: answers(daemon), what="the api and the supervisor")
    until(lambda: daemon.get(f"/v1.45/containers/{cid}/json").status == 404, what="its removal")
    assert not os.path.exists(os.path.join(daemon.data_root, "containers", full))


def test_kill_9_of_a_shim_leaves_its_container_exited_with_an_error(daemon):
    cid = create(daemon, Cmd=["sleep", "100"])
    start(daemon, cid)
    full = inspect(daemon, cid)["Id"]
    pid = inspect(daemon, cid)["State"]["Pid"]
    os.kill(shim_pid(full), signal.SIGKILL)
    state = until(lambda: exited_state(daemon, cid), what="the container to be found exited")
    assert state["Status"] == "exited" and "shim" in state["Error"] and state["ExitCode"] == 255
    until(lambda: not os.path.exists(f"/proc/{pid}"), what="the container's process to be gone")
    assert wait(daemon, cid) == 255
    remove(daemon, cid)


def test_dockyardd_restart_finds_containers_as_it_left_them(fresh_daemon):
    d = fresh_daemon.start()
    ensure_busybox(d)
    running = create(d, Cmd=["sleep", "100"])
    start(d, running)
    done = create(d, Cmd=["sh", "-c", "exit 3"])
    start(d, done)
    assert wait(d, done) == 3
    pid = inspect(d, running)["State"]["Pid"]
    assert d.stop() == 0
    assert os.path.exists(f"/proc/{pid}")  # containers outlive the daemon
    d.start()
    state = inspect(d, running)["State"]
    assert state["Running"] and state["Pid"] == pid
    assert inspect(d, done)["State"]["ExitCode"] == 3
    assert d.request("POST", f"/containers/{running}/stop?t=1").status == 204
    remove(d, running)
    remove(d, done)


def test_restart_policy_fires_once_for_an_exit_while_api_and_supervisor_are_killed(daemon):
    cid = create(daemon, "/v1.45", Cmd=["sh", "-c", "echo ran; sleep 2; exit 1"],
                 HostConfig={"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 5}})
    start(daemon, cid, "/v1.45")
    pid = inspect(daemon, cid)["State"]["Pid"]
    for service in ("api", "supervisor"):
        os.kill(daemon.pid(service), signal.SIGKILL)
    # It exits meanwhile; supervisord brings both back.
    until(lambda: not os.path.exists(f"/proc/{pid}"), 10, "the container to exit")
    until(lambda: answers(daemon), what="the api and the supervisor")
    until(lambda: inspect(daemon, cid)["RestartCount"] == 1 and inspect(daemon, cid)["State"]["Running"],
          what="the restart")
    assert daemon.request("POST", f"/v1.45/containers/{cid}/stop?t=0").status == 204
    assert inspect(daemon, cid)["RestartCount"] == 1
    assert daemon.request("GET", f"/v1.45/containers/{cid}/logs?stdout=1").body.count(b"ran") == 2
    remove(daemon, cid)


def test_restart_policies_across_a_dockyardd_restart(fresh_daemon):
    d = fresh_daemon.start()
    ensure_busybox(d)
    policy = {"Name": "unless-stopped"}
    stopped = create(d, "/v1.45", Cmd=["sleep", "100"], HostConfig={"RestartPolicy": policy})
    start(d, stopped, "/v1.45")
    assert d.request("POST", f"/v1.45/containers/{stopped}/stop?t=0").status == 204
    running = create(d, "/v1.45", Cmd=["sleep", "100"], HostConfig={"RestartPolicy": {"Name": "always"}})
    start(d, running, "/v1.45")
    pid = inspect(d, running)["State"]["Pid"]
    created = create(d, "/v1.45", Cmd=["true"], HostConfig={"RestartPolicy": {"Name": "always"}})
    always_stopped = create(d, "/v1.45", Cmd=["sleep", "100"], HostConfig={"RestartPolicy": {"Name": "always"}})
    start(d, always_stopped, "/v1.45")
    assert d.request("POST", f"/v1.45/containers/{always_stopped}/stop?t=0").status == 204
    # A restart of the supervisor service alone is not a daemon's start: nothing changes.
    d.supervisorctl("restart", "supervisor")
    until(lambda: answers(d), what="the supervisor")
    # It settles its containers (a restart due is "restarting" at once) before it answers.
    assert inspect(d, always_stopped)["State"]["Status"] == "exited"
    assert d.stop() == 0
    d.start()
    # "always" comes back with the daemon even after a client stopped it, as in Docker;
    # once it has, the daemon's start has settled the others too.
    until(lambda: inspect(d, always_stopped)["State"]["Running"], what="the always container's start")
    assert inspect(d, stopped)["State"]["Status"] == "exited"  # a client stopped it: it stays so
    assert inspect(d, running)["State"]["Pid"] == pid  # the same process, not a restart
    assert inspect(d, running)["RestartCount"] == 0
    assert inspect(d, created)["State"]["Status"] == "created"
    for cid in (stopped, running, created, always_stopped):
        remove(d, cid)
