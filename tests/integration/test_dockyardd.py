"""dockyardd's refusals (one line, non-zero exit) and its clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from .daemon import DOCKYARDD, free_port, new_root, remove_root


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
    pids = [fresh_daemon.pid(s) for s in ("api", "supervisor", "builder", "registry")]
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
