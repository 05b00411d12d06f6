"""The same bundle under the built-in runtime and under runc gives the same answers inside
the container: the differential test that keeps the two equal, and the runtime choice."""

from __future__ import annotations

import os
import signal
import subprocess

import docker
import pytest

from ..polling import until
from .containers import create, ensure_busybox, inspect, start, wait
from .containers import docker as docker_cli

RUNTIMES = ("builtin", "runc")

# What a container reports of itself; the lines that differ between runtimes are the bug.
REPORT = r"""
echo "id: $(id)"
echo "pwd: $(pwd)"
echo "env: $(env | grep -v '^HOSTNAME=' | sort | tr '\n' ' ')"
grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status
for p in /proc/kcore /proc/keys /proc/timer_list /sys/firmware /proc/acpi; do
  if [ -d "$p" ]; then echo "$p: dir of $(ls -A "$p" | wc -l)"; else echo "$p: $(head -c 1 "$p" 2>&1 | wc -c)"; fi
done
for p in /proc/sys/kernel/hostname /proc/sysrq-trigger /proc/bus /proc/fs /proc/irq; do
  if touch "$p" 2>/dev/null || echo x 2>/dev/null > "$p"; then echo "$p: writable"; else echo "$p: read-only"; fi
done
echo "hostname: $(hostname) $(cat /etc/hostname)"
echo "mounts: $(grep -c . /proc/self/mounts)"
ls /dev | tr '\n' ' '; echo
echo "tmp: $(touch /tmp/x && echo ok)"
exit 3""" 


def _run(client, runtime: str, **kw) -> tuple[int, str]:
    # One stream (2>&1): the order of lines across stdout and stderr is the pipes', not the runtime's.
    ctr = client.containers.create("busybox", ["sh", "-c", f"({REPORT}) 2>&1"], runtime=runtime, hostname="same",
                                   **kw)
    try:
        ctr.start()
        code = ctr.wait()["StatusCode"]
        return code, ctr.logs().decode()
    finally:
        ctr.remove(force=True)


@pytest.mark.parametrize("kw", [
    {},
    {"user": "nobody:nogroup", "working_dir": "/home/work", "environment": {"A": "1", "B": "two words"}},
    {"cap_drop": ["ALL"], "cap_add": ["NET_ADMIN", "SYS_TIME"]},
    {"privileged": True},
    {"security_opt": ["seccomp=unconfined", "no-new-privileges"]},
    {"read_only": True},
], ids=["default", "user-env-workdir", "caps", "privileged", "seccomp-nnp", "read-only"])
def test_both_runtimes_give_the_same_answers(client, kw):
    answers = {runtime: _run(client, runtime, **kw) for runtime in RUNTIMES}
    builtin, runc = answers["builtin"], answers["runc"]
    assert builtin[0] == runc[0] == 3
    lines = {runtime: out.splitlines() for runtime, (_, out) in answers.items()}
    differ = [(a, b) for a, b in zip(lines["builtin"], lines["runc"]) if a != b]
    assert not differ and len(lines["builtin"]) == len(lines["runc"]), differ


def _host_cgroup(daemon, cid: str, controller: str, name: str) -> str:
    path = os.path.join("/sys/fs/cgroup", controller, daemon.cgroup_parent, cid, name)
    if not os.path.exists(path):  # cgroup v2: one hierarchy
        path = os.path.join("/sys/fs/cgroup", daemon.cgroup_parent, cid, name.split(".", 1)[0] + "." +
                            {"limit_in_bytes": "max", "max": "max"}[name.split(".", 1)[1]])
    with open(path) as fh:
        return fh.read().strip()


def test_both_runtimes_apply_the_same_limits(daemon, client):
    seen = {}
    for runtime in RUNTIMES:
        ctr = client.containers.run("busybox", ["sleep", "100"], runtime=runtime, detach=True,
                                    mem_limit="64m", pids_limit=50)
        try:
            seen[runtime] = (_host_cgroup(daemon, ctr.id, "memory", "memory.limit_in_bytes"),
                             _host_cgroup(daemon, ctr.id, "pids", "pids.max"))
            ctr.kill()
            assert ctr.wait()["StatusCode"] == 137
        finally:
            ctr.remove(force=True)
    assert seen["builtin"] == seen["runc"] == (str(64 << 20), "50")


def test_runc_runs_what_the_docker_cli_does(daemon, client):
    out = docker_cli(daemon, "run", "--rm", "--runtime", "runc", "busybox", "sh", "-c", "echo hi; echo oops >&2; exit 5")
    assert (out.returncode, out.stdout, out.stderr) == (5, b"hi\n", b"oops\n")
    out = docker_cli(daemon, "run", "--rm", "-i", "--runtime", "runc", "busybox", "cat", input=b"in and out\n")
    assert out.returncode == 0 and out.stdout == b"in and out\n", out
    out = docker_cli(daemon, "run", "--rm", "--runtime", "runc", "busybox", "nosuchcmd")
    assert out.returncode == 127 and b"executable file not found" in out.stderr, out


def test_a_tty_under_runc(client):
    ctr = client.containers.run("busybox", ["sh", "-c", "tty; stty size"], runtime="runc", tty=True, detach=True)
    try:
        assert ctr.wait()["StatusCode"] == 0
        assert ctr.logs() == b"/dev/pts/0\r\n24 80\r\n", ctr.logs()
    finally:
        ctr.remove(force=True)


def test_runc_leaves_no_state_behind(daemon, client):
    client.containers.run("busybox", "true", runtime="runc", remove=True)
    state = os.path.join(daemon.exec_root, "runc")
    until(lambda: not os.path.isdir(state) or os.listdir(state) == [], 10, "runc's state of the container to go")


def test_an_unknown_runtime_is_refused_at_create(client):
    with pytest.raises(docker.errors.APIError) as exc:
        client.containers.create("busybox", "true", runtime="kata")
    assert exc.value.status_code == 400 and "unknown or invalid runtime name: kata" in str(exc.value.explanation)


def test_info_lists_both_runtimes(client):
    info = client.info()
    assert set(info["Runtimes"]) == set(RUNTIMES) and info["DefaultRuntime"] == "builtin"
    assert info["Runtimes"]["runc"]["path"].endswith("runc")


def test_the_daemons_runtime_setting_is_the_default(fresh_daemon):
    fresh_daemon.extra_args = ["--runtime", "runc"]
    fresh_daemon.start()
    ensure_busybox(fresh_daemon)
    assert fresh_daemon.get("/v1.45/info").json()["DefaultRuntime"] == "runc"
    cid = create(fresh_daemon, Cmd=["sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"])
    assert inspect(fresh_daemon, cid)["HostConfig"]["Runtime"] == "runc"
    start(fresh_daemon, cid)
    assert wait(fresh_daemon, cid) == 0


def test_a_runc_container_whose_shim_is_killed_leaves_no_runc_state(daemon, client):
    ctr = client.containers.run("busybox", ["sleep", "100"], runtime="runc", detach=True)
    state = os.path.join(daemon.exec_root, "runc", ctr.id)
    assert os.path.isdir(state)
    shim = int(subprocess.run(["pgrep", "-f", f"dockyard-shim {ctr.id}"], capture_output=True, text=True,
                              check=True).stdout.split()[0])
    os.kill(shim, signal.SIGKILL)
    assert ctr.wait(timeout=30)["StatusCode"] == 255
    until(lambda: not os.path.exists(state), 10, "runc's state of the killed container to go")
    ctr.remove()
