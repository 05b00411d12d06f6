"""Containers through docker-py and the docker CLI, on /v1.45/ paths."""

from __future__ import annotations

import json
import os
import subprocess
import time

import docker
import pytest

from ..polling import until


def test_run_returns_output(client):
    assert client.containers.run("busybox", "echo hi", remove=True) == b"hi\n"


def test_run_returns_all_output_written_just_before_exit(client):
    # More than a pipe holds: the shim is still logging it when the process has exited.
    want = "".join(f"{n}\n" for n in range(1, 30001)).encode()
    for _ in range(3):
        assert client.containers.run("busybox", "seq 1 30000", remove=True) == want


def test_create_start_wait_logs_remove(client):
    ctr = client.containers.create("busybox", ["sh", "-c", "echo out; echo err >&2; exit 7"], name="pyctr")
    assert ctr.name == "pyctr" and ctr.status == "created"
    ctr.start()
    assert ctr.wait() == {"StatusCode": 7, "Error": None}
    assert ctr.logs(stdout=True, stderr=False) == b"out\n"
    assert ctr.logs(stdout=False, stderr=True) == b"err\n"
    assert ctr.logs(timestamps=True).split(b" ", 1)[0].endswith(b"Z")
    ctr.reload()
    assert ctr.status == "exited" and ctr.attrs["State"]["ExitCode"] == 7
    assert client.containers.get("pyctr").id == ctr.id
    ctr.remove()
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("pyctr")


def test_name_conflict_is_409(client):
    ctr = client.containers.create("busybox", "true", name="twice")
    with pytest.raises(docker.errors.APIError) as exc:
        client.containers.create("busybox", "true", name="twice")
    assert exc.value.status_code == 409
    ctr.remove()


def test_logs_follow_and_stream(client):
    ctr = client.containers.run("busybox", ["sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.2; done"],
                                detach=True)
    lines = list(ctr.logs(stream=True, follow=True))
    assert b"".join(lines) == b"1\n2\n3\n"
    assert ctr.wait()["StatusCode"] == 0
    ctr.remove()


def test_attach_socket_multiplexed(client):
    ctr = client.containers.create("busybox", "cat", stdin_open=True)
    ctr.start()
    sock = ctr.attach_socket(params={"stdin": 1, "stream": 1, "stdout": 1, "stderr": 1})
    sock._sock.sendall(b"ping\n")
    sock._sock.settimeout(1)  # a read that times out is tried again, within until's deadline
    data = bytearray()

    def echoed() -> bool:
        data.extend(sock._sock.recv(100))
        return len(data) >= 13
    until(echoed, 10, "the echo of ping")
    assert data == b"\x01\x00\x00\x00\x00\x00\x00\x05ping\n"
    ctr.kill()
    ctr.remove()


def test_stop_restart_kill_and_list(client):
    # pid 1 of a namespace ignores signals it has no handler for: this shell has one.
    ctr = client.containers.run("busybox", ["sh", "-c", "trap 'exit 143' TERM; while true; do sleep 0.1; done"],
                                detach=True)
    assert [c.id for c in client.containers.list()].count(ctr.id) == 1
    ctr.restart(timeout=1)
    ctr.reload()
    assert ctr.status == "running"
    ctr.kill(signal="SIGTERM")
    assert ctr.wait()["StatusCode"] == 143
    assert ctr.id not in [c.id for c in client.containers.list()]
    assert ctr.id in [c.id for c in client.containers.list(all=True)]
    ctr.remove(force=True)


def test_force_remove_running(client):
    ctr = client.containers.run("busybox", "sleep 100", detach=True)
    with pytest.raises(docker.errors.APIError) as exc:
        ctr.remove()
    assert exc.value.status_code == 409
    ctr.remove(force=True)
    with pytest.raises(docker.errors.NotFound):
        ctr.reload()


def test_cgroup_parent_places_the_container(daemon, client):
    parent = f"/{daemon.cgroup_parent}/custom"
    ctr = client.containers.run("busybox", "sleep 100", detach=True, cgroup_parent=parent)
    ctr.reload()
    assert ctr.attrs["HostConfig"]["CgroupParent"] == parent
    with open(f"/proc/{ctr.attrs['State']['Pid']}/cgroup") as fh:
        paths = {line.rstrip("\n").split(":", 2)[2] for line in fh}
    assert f"{parent}/{ctr.id}" in paths, paths
    ctr.remove(force=True)
    for base in daemon.cgroup_dirs():
        assert not os.path.exists(os.path.join(base, "custom", ctr.id))
        if os.path.isdir(os.path.join(base, "custom")):   # not in cpuset: it asked for no CPUs
            os.rmdir(os.path.join(base, "custom"))  # parents stay, as Docker leaves them


@pytest.mark.parametrize("parent", ["../escape", "/", "a/../../b"])
def test_cgroup_parent_outside_the_root_is_refused(client, parent):
    with pytest.raises(docker.errors.APIError) as exc:
        client.containers.create("busybox", "true", cgroup_parent=parent)
    assert exc.value.status_code == 400 and "cgroup parent" in str(exc.value.explanation)


def test_docker_cli_run_ps_logs_rm(daemon, client, tmp_path):
    env = dict(os.environ, DOCKER_HOST=daemon.unix_url, DOCKER_CONFIG=str(tmp_path))

    def cli(*args):
        return subprocess.run(["docker", *args], capture_output=True, timeout=60, env=env)
    out = cli("run", "-d", "--name", "clirun", "busybox", "sh", "-c", "echo from-cli; sleep 100")
    assert out.returncode == 0, out.stderr
    assert b"clirun" in cli("ps").stdout
    until(lambda: b"from-cli" in cli("logs", "clirun").stdout, 10, "docker logs to show the output", interval=0.1)
    assert cli("rm", "-f", "clirun").returncode == 0
    assert b"clirun" not in cli("ps", "-a").stdout


def test_docker_cli_run_attached(daemon, client, tmp_path):
    """docker run attaches before it starts the container, and with --rm waits for its removal."""
    env = dict(os.environ, DOCKER_HOST=daemon.unix_url, DOCKER_CONFIG=str(tmp_path))
    out = subprocess.run(["docker", "run", "--rm", "busybox", "sh", "-c", "echo hi; echo oops >&2; exit 3"],
                         capture_output=True, timeout=60, env=env)
    assert out.returncode == 3 and out.stdout == b"hi\n" and out.stderr == b"oops\n", out
    out = subprocess.run(["docker", "run", "--rm", "-i", "busybox", "cat"], input=b"through stdin\n",
                         capture_output=True, timeout=60, env=env)
    assert out.returncode == 0 and out.stdout == b"through stdin\n", out


def test_docker_cli_run_gets_all_output_and_logs_tail(daemon, client, tmp_path):
    """Output still being logged when the process exits reaches the attached CLI whole."""
    env = dict(os.environ, DOCKER_HOST=daemon.unix_url, DOCKER_CONFIG=str(tmp_path))
    want = "".join(f"{n}\n" for n in range(1, 30001)).encode()
    for _ in range(2):
        out = subprocess.run(["docker", "run", "--rm", "busybox", "seq", "1", "30000"],
                             capture_output=True, timeout=60, env=env)
        assert out.returncode == 0 and out.stdout == want, (len(out.stdout), out.stderr)
    ctr = client.containers.run("busybox", "seq 1 30000", detach=True)
    ctr.wait()
    assert ctr.logs(tail=3) == b"29998\n29999\n30000\n"
    assert ctr.logs(tail=0) == b""
    assert ctr.logs(stream=True, follow=True, tail=1).__next__() == b"30000\n"
    lines = ctr.logs(timestamps=True, tail=2).splitlines()
    assert [line.split(b" ", 1)[1] for line in lines] == [b"29999", b"30000"]
    ctr.remove()


def _status(client, *security_opt: str, **kw) -> dict:
    out = client.containers.run("busybox", ["sh", "-c", "cat /proc/self/status; unshare -U true 2>&1; echo rc=$?"],
                                remove=True, security_opt=list(security_opt) or None, **kw).decode()
    fields = dict(line.split(":\t", 1) for line in out.splitlines() if ":\t" in line)
    fields["unshare"] = out.rsplit("\n", 3)[-3:]
    return fields


def test_default_seccomp_filter_refuses_user_namespaces(client):
    st = _status(client)
    assert st["Seccomp"] == "2" and st["NoNewPrivs"] == "0"
    assert "Operation not permitted" in "".join(st["unshare"]) and "rc=1" in st["unshare"]


def test_seccomp_unconfined_privileged_and_no_new_privileges(client):
    assert _status(client, "seccomp=unconfined")["Seccomp"] == "0"
    assert _status(client, privileged=True)["Seccomp"] == "0"
    st = _status(client, "no-new-privileges")
    assert st["NoNewPrivs"] == "1" and st["Seccomp"] == "2"
    assert _status(client, "no-new-privileges:false")["NoNewPrivs"] == "0"


def test_a_seccomp_profile_of_its_own(client):
    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["unshare"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}
    st = _status(client, "seccomp=" + json.dumps(profile))
    assert st["Seccomp"] == "2" and "Function not implemented" in "".join(st["unshare"])


@pytest.mark.parametrize("option, message", [
    ("bogus", 'invalid --security-opt 1: "bogus"'),
    ("seccomp=not json", "seccomp profile must be"),
    ('seccomp={"defaultAction": "SCMP_ACT_LOG"}', "not supported"),
    ('seccomp={"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["nope"], "action": "SCMP_ACT_ERRNO"}]}',
     "unknown syscall"),
    ("no-new-privileges=maybe", "invalid --security-opt"),
])
def test_bad_security_options_are_refused_at_create(client, option, message):
    with pytest.raises(docker.errors.APIError) as exc:
        client.containers.create("busybox", "true", security_opt=[option])
    assert exc.value.status_code == 400 and message in str(exc.value.explanation)


def test_info_names_the_seccomp_profile(client):
    assert "name=seccomp,profile=builtin" in client.info()["SecurityOptions"]


def test_pids_limit_holds(daemon, client):
    # The spawner gives up at the first fork refused; the container's init goes on.
    ctr = client.containers.run("busybox", ["sh", "-c", "(for i in $(seq 1 40); do sleep 60 & done); exec sleep 60"],
                                detach=True, pids_limit=12)
    try:
        ctr.reload()
        assert ctr.attrs["HostConfig"]["PidsLimit"] == 12
        pid = ctr.attrs["State"]["Pid"]
        v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
        with open(f"/proc/{pid}/cgroup") as fh:
            path = next(line.split(":", 2)[2].strip() for line in fh
                        if line.split(":")[1] == ("" if v2 else "pids"))
        base = "/sys/fs/cgroup" + ("" if v2 else "/pids")
        assert open(f"{base}{path}/pids.max").read().strip() == "12"
        until(lambda: b"can't fork" in ctr.logs(), what="the spawner to be refused a fork")
        assert 1 < len(open(f"{base}{path}/cgroup.procs").read().split()) <= 12
    finally:
        ctr.remove(force=True)


def test_on_failure_restarts_up_to_its_count(client):
    ctr = client.containers.run("busybox", ["sh", "-c", "echo run; exit 3"], detach=True,
                                restart_policy={"Name": "on-failure", "MaximumRetryCount": 3})
    started = time.monotonic()
    until(lambda: ctr.reload() or (ctr.attrs["RestartCount"] == 3 and ctr.status == "exited"),
          what="three restarts, then exited")
    # Delays of 0.1, 0.2 and 0.4 s between the runs: a doubling backoff, not a busy loop.
    assert time.monotonic() - started >= 0.7
    # No fourth run: it would be due 0.8 s after the third exit. Time must pass for that.
    mark = time.time() + 1
    until(lambda: time.time() > mark, 5, "the time a fourth run would have been due")
    ctr.reload()
    assert ctr.attrs["RestartCount"] == 3 and ctr.attrs["State"]["ExitCode"] == 3
    assert ctr.logs() == b"run\n" * 4
    ctr.remove()
    # Success ends it.
    ok = client.containers.run("busybox", "true", detach=True, restart_policy={"Name": "on-failure"})
    until(lambda: ok.reload() or ok.status == "exited", what="the successful run to exit")
    # A restart would be due 0.1 s after the exit. Time must pass for that.
    mark = time.time() + 1
    until(lambda: time.time() > mark, 5, "the time a restart would have been due")
    ok.reload()
    assert ok.status == "exited" and ok.attrs["RestartCount"] == 0
    ok.remove()


def test_always_restarts_until_a_client_stops_it(client):
    ctr = client.containers.run("busybox", ["sh", "-c", "sleep 0.2"], detach=True,
                                restart_policy={"Name": "always"})
    until(lambda: ctr.reload() or ctr.attrs["RestartCount"] >= 2, what="two restarts")
    ctr.stop(timeout=1)
    ctr.reload()
    assert ctr.status == "exited"
    count = ctr.attrs["RestartCount"]
    # No restart after a client's stop: one would be due within the doubled backoff (0.8 s
    # after a few 0.2 s runs). Time must pass for that.
    mark = time.time() + 1.5
    until(lambda: time.time() > mark, 5, "the time a restart would have been due")
    ctr.reload()
    assert ctr.status == "exited" and ctr.attrs["RestartCount"] == count
    ctr.start()  # a client's start allows restarts again
    until(lambda: ctr.reload() or ctr.attrs["RestartCount"] > count, what="a restart after the client's start")
    ctr.remove(force=True)


@pytest.mark.parametrize("policy, extra, message", [
    ({"Name": "sometimes"}, {}, "unknown policy 'sometimes'"),
    ({"Name": "always", "MaximumRetryCount": 2}, {}, "can only be used with 'on-failure'"),
    ({"Name": "on-failure", "MaximumRetryCount": -1}, {}, "positive integer"),
    ({"Name": "always"}, {"auto_remove": True}, "both --restart and --rm"),
])
def test_bad_restart_policies_are_refused(client, policy, extra, message):
    with pytest.raises(docker.errors.APIError) as exc:
        client.containers.create("busybox", "true", restart_policy=policy, **extra)
    assert exc.value.status_code == 400 and message in str(exc.value.explanation)
