"""dockyardd's refusals (one line, non-zero exit) and its clean stop on SIGTERM."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from services.common import daemon_lock

from ..polling import until
from .containers import Attached, create, ensure_busybox, inspect, start, wait
from .daemon import DOCKYARDD, SERVICES, UnixHTTPConnection, free_port, new_root, remove_root


def refuse(*args: str, root: str) -> str:
    argv = [DOCKYARDD, "--data-root", f"{root}/data", "--exec-root", f"{root}/run", *args]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert out.returncode != 0, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dockyardd: "), out.stderr
    assert "Traceback" not in out.stderr
    return lines[0]


@pytest.fixture
def root():
    r = new_root()
    yield r
    remove_root(r)


def test_refuses_exposed_tcp_without_tls(root):
    assert "without TLS" in refuse("-H", f"tcp://0.0.0.0:{free_port()}", root=root)


def test_refuses_socket_a_live_daemon_answers(daemon, root):
    assert "another daemon is answering" in refuse("-H", daemon.unix_url, root=root)
    assert daemon.get("/_ping").status == 200  # and leaves it alone


def test_refuses_port_in_use(daemon, root):
    msg = refuse("-H", f"tcp://127.0.0.1:{daemon.port}", root=root)
    assert "already in use" in msg


def test_refuses_unwritable_data_root(root):
    blocker = os.path.join(root, "file")
    open(blocker, "w").close()
    msg = refuse("-H", f"unix://{root}/d.sock", "--data-root", f"{blocker}/data", root=root)
    assert "not writable" in msg


def test_refuses_bad_config_file(root):
    conf = os.path.join(root, "c.yaml")
    with open(conf, "w") as fh:
        fh.write("hosts: [\n")
    assert "not valid YAML" in refuse("--config-file", conf, root=root)


def test_refuses_cgroup_parent_outside_the_root(root):
    assert "cgroup parent" in refuse("-H", f"unix://{root}/d.sock", "--cgroup-parent", "../host", root=root)


def test_config_file_is_used(fresh_daemon):
    conf = os.path.join(fresh_daemon.root, "c.yaml")
    with open(conf, "w") as fh:
        fh.write("log-level: debug\n")
    fresh_daemon.extra_args = ["--config-file", conf]
    fresh_daemon.start()
    assert fresh_daemon.get("/info").json()["Debug"] is True


def test_sigterm_stops_every_service(fresh_daemon):
    fresh_daemon.start()
    pids = [fresh_daemon.pid(s) for s in SERVICES]
    started = time.monotonic()
    assert fresh_daemon.stop(timeout=30) == 0
    assert time.monotonic() - started < 15
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}"), pid
    assert not os.path.exists(fresh_daemon.sock)
    # And it starts again on the same roots.
    fresh_daemon.start()
    assert fresh_daemon.get("/_ping").status == 200


def test_sigint_stops_too(fresh_daemon):
    fresh_daemon.start()
    fresh_daemon.proc.send_signal(signal.SIGINT)
    assert fresh_daemon.proc.wait(30) == 0


def test_refuses_an_exec_root_its_sockets_would_not_fit_under(root):
    long_root = os.path.join(root, "x" * 90)
    msg = refuse("-H", f"unix://{root}/d.sock", "--exec-root", long_root, root=root)
    assert "exec root" in msg and "too long" in msg and "at most" in msg


def _service_pids(daemon) -> list[int]:
    return [daemon.pid(s) for s in SERVICES]


def _sleeper(daemon) -> tuple[str, int]:
    """A running container and its process's pid."""
    ensure_busybox(daemon)
    cid = create(daemon, Cmd=["sleep", "1000"])
    start(daemon, cid)
    return cid, inspect(daemon, cid)["State"]["Pid"]


def test_kill_9_of_dockyardd_then_it_starts_again_and_adopts(fresh_daemon):
    fresh_daemon.start()
    cid, pid = _sleeper(fresh_daemon)
    old = _service_pids(fresh_daemon)
    fresh_daemon.proc.kill()  # SIGKILL of supervisord: its services must not live on
    fresh_daemon.proc.wait(10)
    until(lambda: not any(os.path.exists(f"/proc/{p}/cmdline") and open(f"/proc/{p}/cmdline").read()
                          for p in old), 10, "the services of the killed dockyardd to stop")
    fresh_daemon.start()
    assert not set(old) & set(_service_pids(fresh_daemon))
    state = inspect(fresh_daemon, cid)["State"]
    assert state["Running"] and state["Pid"] == pid, state
    assert fresh_daemon.request("POST", f"/containers/{cid}/kill").status == 204
    assert wait(fresh_daemon, cid) == 137


def test_kill_9_of_dockyardd_then_an_immediate_start_waits_for_the_old_services(fresh_daemon):
    fresh_daemon.start()
    old = _service_pids(fresh_daemon)
    fresh_daemon.proc.kill()
    fresh_daemon.proc.wait(10)
    fresh_daemon.start()  # at once: the old api may still be answering for a moment
    assert not set(old) & set(_service_pids(fresh_daemon))
    for pid in old:
        assert not os.path.exists(f"/proc/{pid}/cmdline") or not open(f"/proc/{pid}/cmdline").read(), pid


def test_every_service_holds_the_services_lock_and_no_shim_does(fresh_daemon):
    fresh_daemon.start()
    _sleeper(fresh_daemon)
    holders = set(daemon_lock.holders(fresh_daemon.exec_root))
    assert holders == set(_service_pids(fresh_daemon))   # not supervisord, the zygote or a shim


def test_a_process_left_holding_the_services_lock_holds_the_next_dockyardd_back(fresh_daemon):
    """What an old service that does not stop would do: the next dockyardd refuses after its
    grace, naming it, and starts once it is gone (adopting the container that lived on)."""
    fresh_daemon.start()
    cid, pid = _sleeper(fresh_daemon)
    old = _service_pids(fresh_daemon)
    fresh_daemon.proc.kill()
    fresh_daemon.proc.wait(10)
    until(lambda: not set(old) & set(daemon_lock.holders(fresh_daemon.exec_root)), 15,
          "the services of the killed dockyardd to stop")
    lingering = subprocess.Popen(
        [sys.executable, "-c", "import signal, sys; from services.common import daemon_lock; "
         "daemon_lock.hold(sys.argv[1]); print('held', flush=True); signal.pause()", fresh_daemon.exec_root],
        stdout=subprocess.PIPE, text=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    try:
        assert lingering.stdout.readline() == "held\n"
        out = subprocess.run(fresh_daemon.args(), capture_output=True, text=True, timeout=60,
                             stdin=subprocess.DEVNULL)
        assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr
        assert "still running" in out.stderr and str(lingering.pid) in out.stderr, out.stderr
    finally:
        lingering.kill()
        lingering.wait()
    fresh_daemon.start()
    state = inspect(fresh_daemon, cid)["State"]
    assert state["Running"] and state["Pid"] == pid, state


def _open_stream(daemon, method: str, path: str) -> http.client.HTTPResponse:
    """A request whose response head has come; its body is still to come."""
    conn = UnixHTTPConnection(daemon.sock, timeout=30)
    conn.request(method, path)
    response = conn.getresponse()
    assert response.status in (101, 200), response.status
    return response


def test_sigterm_with_open_streams_stops_within_5s_and_the_container_lives_on(fresh_daemon):
    fresh_daemon.start()
    cid, pid = _sleeper(fresh_daemon)
    logs = _open_stream(fresh_daemon, "GET", f"/v1.45/containers/{cid}/logs?follow=1&stdout=1")
    waiting = _open_stream(fresh_daemon, "POST", f"/v1.45/containers/{cid}/wait")
    attached = Attached(fresh_daemon, cid, "stream=1&stdout=1&stderr=1", upgrade=True, prefix="/v1.45")
    assert attached.status == 101
    started = time.monotonic()
    fresh_daemon.proc.send_signal(signal.SIGTERM)
    assert fresh_daemon.proc.wait(10) == 0
    assert time.monotonic() - started < 5
    # Each client sees its stream end properly (no hang, no broken chunking), and the
    # container runs on under its shim.
    assert logs.read() == b""
    assert "stopping" in json.loads(waiting.read())["Error"]["Message"]
    assert attached.read_all(timeout=5) == b""
    assert os.path.exists(f"/proc/{pid}")
    fresh_daemon.start()
    state = inspect(fresh_daemon, cid)["State"]
    assert state["Running"] and state["Pid"] == pid, state
    fresh_daemon.request("POST", f"/containers/{cid}/kill")
