"""docker run as a user meets it: commands that exit at once, commands that cannot start."""

from __future__ import annotations

import pytest

from .containers import create, docker, ensure_busybox, inspect


@pytest.fixture(scope="module", autouse=True)
def busybox(daemon):
    ensure_busybox(daemon)


def test_run_of_a_command_that_exits_at_once_returns_50_times_in_a_row(daemon):
    # The CLI waits with condition=next-exit, and the container may be gone before the
    # wait has started: the exit must still be the one it hears of.
    before = set(docker(daemon, "ps", "-aq").stdout.split())
    for n in range(50):
        out = docker(daemon, "run", "busybox", "true", timeout=30)
        assert out.returncode == 0, (n, out.stderr)
    out = docker(daemon, "run", "busybox", "sh", "-c", "echo; exit 4", timeout=30)
    assert out.returncode == 4 and out.stdout == b"\n", out
    made = set(docker(daemon, "ps", "-aq").stdout.split()) - before
    assert len(made) == 51
    assert docker(daemon, "rm", *made).returncode == 0


def _refused_run(daemon, *args: str):
    before = set(docker(daemon, "ps", "-aq", "--no-trunc").stdout.split())
    out = docker(daemon, "run", "--rm", *args, timeout=30)
    after = set(docker(daemon, "ps", "-aq", "--no-trunc").stdout.split())
    assert after == before, "the --rm container that could not start was left behind"
    return out


def test_run_rm_of_a_missing_command_says_so_and_exits_127(daemon):
    out = _refused_run(daemon, "busybox", "nosuchcmd")
    assert out.returncode == 127, out
    assert b'exec: "nosuchcmd": executable file not found in $PATH' in out.stderr, out.stderr


def test_run_rm_of_a_file_that_is_not_executable_exits_126(daemon):
    out = _refused_run(daemon, "busybox", "/etc/passwd")
    assert out.returncode == 126, out
    assert b"permission denied" in out.stderr, out.stderr


def test_a_working_dir_in_proc_self_fd_cannot_start(daemon):
    # /proc/self/fd/N of a process that still held a host directory would be a way out.
    out = _refused_run(daemon, "-w", "/proc/self/fd/3", "busybox", "ls", "-la")
    assert out.returncode != 0 and b"working directory" in out.stderr, out
    assert out.stdout == b""


def test_a_start_that_fails_keeps_the_container_created_with_its_exit_code(daemon):
    cid = create(daemon, Cmd=["nosuchcmd"])
    r = daemon.request("POST", f"/v1.45/containers/{cid}/start")
    assert r.status == 400 and "executable file not found" in r.json()["message"]
    state = inspect(daemon, cid)["State"]
    assert state["Status"] == "created" and state["ExitCode"] == 127 and "nosuchcmd" in state["Error"]
    assert daemon.request("DELETE", f"/containers/{cid}").status == 204


def test_error_messages_are_read_by_the_cli(daemon):
    # The CLI reads a message only from a body typed exactly application/json.
    out = docker(daemon, "start", "no-such-container")
    assert out.returncode != 0
    assert b"Error response from daemon: No such container: no-such-container" in out.stderr, out.stderr
