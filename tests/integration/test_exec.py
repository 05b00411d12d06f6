"""Exec on the started daemon (issue 12), with docker-py and the docker CLI: output and exit
codes, stdout and stderr apart, a tty, stdin, Env, WorkingDir and User, detached execs and
their inspection, Docker's errors, an exec that outlives a killed api, and execs that die
with their container."""

from __future__ import annotations

import os
import signal
import subprocess

import docker
import pytest

from ..polling import until
from .containers import ensure_busybox

BUSYBOX = "busybox:latest"


@pytest.fixture
def running(client):
    ctr = client.containers.run(BUSYBOX, ["sleep", "300"], detach=True)
    yield ctr
    ctr.remove(force=True)


def test_output_exit_code_and_streams_apart(client, running):
    result = running.exec_run(["sh", "-c", "echo out; echo err >&2; exit 3"], demux=True)
    assert result.exit_code == 3
    assert result.output == (b"out\n", b"err\n")
    result = running.exec_run("echo hello")
    assert result == (0, b"hello\n")
    # Never in the container's own log.
    assert b"hello" not in running.logs()


def test_env_workdir_and_user(client, running):
    code, out = running.exec_run(["sh", "-c", "echo $GREETING; pwd; id -u"], environment={"GREETING": "hi"},
                                 workdir="/tmp", user="nobody")
    assert code == 0
    lines = out.decode().split()
    assert lines[:2] == ["hi", "/tmp"] and lines[2] != "0"


def test_a_tty_exec_has_a_terminal(client, running):
    code, out = running.exec_run(["sh", "-c", "tty; stty size"], tty=True)
    assert code == 0 and out.startswith(b"/dev/pts/"), out


def test_stdin_reaches_the_exec(client, running):
    api = client.api
    exec_id = api.exec_create(running.id, ["sh", "-c", "read line; echo got:$line"], stdin=True)["Id"]
    sock = api.exec_start(exec_id, socket=True)
    raw = getattr(sock, "_sock", sock)
    raw.sendall(b"ping\n")
    raw.settimeout(10)
    data = b""
    while b"got:ping" not in data:
        chunk = raw.recv(4096)
        if not chunk:
            break
        data += chunk
    raw.close()
    assert b"got:ping" in data, data
    until(lambda: api.exec_inspect(exec_id)["ExitCode"] == 0, 10, "the exec to end with 0")


def test_a_detached_exec_is_inspected_while_it_runs_and_after(client, running):
    api = client.api
    exec_id = api.exec_create(running.id, ["sh", "-c", "sleep 1; exit 7"])["Id"]
    assert api.exec_start(exec_id, detach=True) == ""   # 200, nothing more
    info = api.exec_inspect(exec_id)
    assert info["ID"] == exec_id and info["ContainerID"] == running.id
    assert info["ProcessConfig"] == {"tty": False, "entrypoint": "sh", "arguments": ["-c", "sleep 1; exit 7"],
                                     "privileged": False, "user": ""}
    assert info["Running"] is True and info["Pid"] > 0 and info["ExitCode"] is None
    until(lambda: api.exec_inspect(exec_id)["ExitCode"] == 7, 15, "the detached exec to end with 7")
    assert api.exec_inspect(exec_id)["Running"] is False
    # Started once only.
    with pytest.raises(docker.errors.APIError) as again:
        api.exec_start(exec_id)
    assert again.value.status_code == 409


def test_dockers_errors(client, running):
    api = client.api
    with pytest.raises(docker.errors.NotFound):
        api.exec_inspect("0" * 64)
    with pytest.raises(docker.errors.NotFound):
        api.exec_create("no-such-container", ["true"])
    stopped = client.containers.create(BUSYBOX, ["true"])
    try:
        with pytest.raises(docker.errors.APIError) as not_running:
            api.exec_create(stopped.id, ["true"])
        assert not_running.value.status_code == 409
    finally:
        stopped.remove(force=True)
    code, out = running.exec_run("nosuchcommand")
    assert code == 127 and b"executable file not found" in out, out


def test_execs_die_with_their_container(client):
    ctr = client.containers.run(BUSYBOX, ["sleep", "300"], detach=True)
    try:
        api = client.api
        exec_id = api.exec_create(ctr.id, ["sleep", "1000"])["Id"]
        api.exec_start(exec_id, detach=True)
        until(lambda: api.exec_inspect(exec_id)["Pid"] > 0, 10, "the exec to run")
        pid = api.exec_inspect(exec_id)["Pid"]
        assert os.path.exists(f"/proc/{pid}")
        ctr.kill()
        until(lambda: not os.path.exists(f"/proc/{pid}") or _zombie(pid), 10, "the exec to die with its container")
        assert api.exec_inspect(exec_id)["Running"] is False
    finally:
        ctr.remove(force=True)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


def test_the_docker_cli_execs(client, daemon, running):
    env = {**os.environ, "DOCKER_HOST": daemon.unix_url}
    out = subprocess.run(["docker", "exec", running.id, "sh", "-c", "echo cli $((1+2))"], env=env,
                         capture_output=True, timeout=30)
    assert out.returncode == 0 and out.stdout == b"cli 3\n", out
    out = subprocess.run(["docker", "exec", "-i", running.id, "sh", "-c", "tr a-z A-Z"], input=b"piped\n",
                         env=env, capture_output=True, timeout=30)
    assert out.returncode == 0 and out.stdout == b"PIPED\n", out
    out = subprocess.run(["docker", "exec", running.id, "sh", "-c", "exit 5"], env=env, capture_output=True,
                         timeout=30)
    assert out.returncode == 5


def test_an_exec_outlives_a_killed_api(fresh_daemon):
    daemon = fresh_daemon.start()
    ensure_busybox(daemon)
    client = docker.DockerClient(base_url=daemon.unix_url, version="1.45")
    ctr = client.containers.run(BUSYBOX, ["sleep", "300"], detach=True)
    api = client.api
    exec_id = api.exec_create(ctr.id, ["sh", "-c", "read x; echo late:$x"], stdin=True)["Id"]
    sock = api.exec_start(exec_id, socket=True)
    until(lambda: api.exec_inspect(exec_id)["Pid"] > 0, 10, "the exec to run")
    pid = api.exec_inspect(exec_id)["Pid"]
    old = daemon.pid("api")
    os.kill(old, signal.SIGKILL)
    daemon.wait_new_pid("api", old)
    getattr(sock, "_sock", sock).close()
    # It runs on (its stdin closed with the connection: `read` ends), inspected through the new api.
    until(lambda: api.exec_inspect(exec_id)["ExitCode"] is not None, 20, "the exec to be seen ending")
    assert api.exec_inspect(exec_id)["Pid"] == pid
    client.close()


def test_kill_9_of_the_supervisor_keeps_a_detached_exec_and_its_record(fresh_daemon):
    daemon = fresh_daemon.start()
    ensure_busybox(daemon)
    client = docker.DockerClient(base_url=daemon.unix_url, version="1.45")
    ctr = client.containers.run(BUSYBOX, ["sleep", "300"], detach=True)
    api = client.api
    exec_id = api.exec_create(ctr.id, ["sleep", "2"])["Id"]
    api.exec_start(exec_id, detach=True)
    old = daemon.pid("supervisor")
    os.kill(old, signal.SIGKILL)
    daemon.wait_new_pid("supervisor", old)
    until(lambda: api.exec_inspect(exec_id)["Running"] is True or api.exec_inspect(exec_id)["ExitCode"] == 0, 20,
          "the exec to be inspected after the supervisor's restart")
    until(lambda: api.exec_inspect(exec_id)["ExitCode"] == 0, 20, "the exec to end")
    client.close()


def test_a_bad_exec_body_is_a_400(daemon, running):
    for body in (b"[1]", b'{"Cmd": 5}', b'{"Cmd": []}', b'{"Cmd": ["true"], "Tty": "yes"}'):
        r = daemon.request("POST", f"/v1.45/containers/{running.id}/exec", body=body,
                           headers={"Content-Type": "application/json"})
        assert r.status == 400, (body, r.status, r.body)
