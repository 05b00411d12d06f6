"""Exec'ing into a running "container" on the real kernel, without a daemon: a process in
namespaces of its own (unshare) and a scratch cgroup stand for the container; the test
process is a child subreaper, as the shim is. First enter.spawn's stdio (pipes, a pty),
then the shim's Execs end to end (frames, stdin, exit codes, detach, a caller leaving)."""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import subprocess

import pytest

from services.kernel.cgroups import Cgroup
from services.shim import probes
from services.shim.execs import Execs
from services.shim.runtime import StartError, Stdio, enter

from ..polling import eventually, until

PR_SET_CHILD_SUBREAPER = 36
SCRIPT = "echo out; echo err >&2; read x; echo got $x; exit 3"


@pytest.fixture(scope="module", autouse=True)
def subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    yield
    libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


@pytest.fixture
def container():
    """(its init's pid, its config, its cgroup)."""
    cg = Cgroup(f"dockyard-exectest-{os.getpid()}/c")
    cg.create()
    outer = subprocess.Popen(["unshare", "--fork", "--pid", "--mount-proc", "--net", "--uts", "--ipc",
                              "sleep", "120"])
    def children() -> str:
        with open(f"/proc/{outer.pid}/task/{outer.pid}/children") as fh:
            return fh.read().strip()
    pid = int(until(children, 5, "unshare to start its child").split()[0])
    until(lambda: os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt"), 5,
          "unshare's child to be in its namespaces")
    config = {"process": {"env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "A=container", "B=container"],
                          "cwd": "/tmp", "user": {"uid": 0, "gid": 0}, "noNewPrivileges": False},
              "linux": {}, "annotations": {}, "root": {"path": "rootfs"}}
    yield pid, config, cg
    outer.kill()
    try:
        outer.wait(5)
    except (subprocess.TimeoutExpired, ChildProcessError):
        pass
    cg.destroy()
    for d in cg.dirs():
        if os.path.isdir(os.path.dirname(d)):
            os.rmdir(os.path.dirname(d))


def wait_exit(pid: int, timeout: float = 10) -> int:
    def reaped():
        done, status = os.waitpid(pid, os.WNOHANG)
        return (os.waitstatus_to_exitcode(status),) if done else None
    return until(reaped, timeout, f"{pid} to exit")[0]


def read_all(fd: int) -> bytes:
    out = b""
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:   # EIO: a pty's slave is closed
            break
        if not data:
            break
        out += data
    os.close(fd)
    return out


def test_spawn_with_pipes(container):
    pid, config, cg = container
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    child = enter.spawn(pid, config, ["sh", "-c", SCRIPT + "; "], Stdio(in_r, out_w, err_w, False), cg)
    for fd in (in_r, out_w, err_w):
        os.close(fd)
    # It runs in the container's pid namespace (and cgroup), and the caller's next children
    # are born in its own again.
    assert os.readlink(f"/proc/{child}/ns/pid") == os.readlink(f"/proc/{pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
    assert os.readlink("/proc/self/ns/pid_for_children") == os.readlink("/proc/self/ns/pid")
    assert child in cg.pids()
    os.write(in_w, b"hello\n")
    os.close(in_w)
    assert read_all(out_r) == b"out\ngot hello\n"
    assert read_all(err_r) == b"err\n"
    assert wait_exit(child) == 3


def test_spawn_with_a_pty(container):
    pid, config, cg = container
    master, slave = os.openpty()
    enter.SYS.set_window_size(master, 30, 100)
    child = enter.spawn(pid, config, ["sh", "-c", "stty size; read x; echo got $x"],
                        Stdio(slave, slave, slave, True), cg)
    os.close(slave)
    os.write(master, b"typed\n")
    out = read_all(master)
    assert b"30 100" in out and b"got typed" in out
    assert wait_exit(child) == 0


def test_spawn_not_found(container):
    pid, config, cg = container
    with pytest.raises(StartError) as caught:
        enter.spawn(pid, config, ["nosuch"], os.open(os.devnull, os.O_WRONLY), cg)
    assert caught.value.exit_code == 127
    assert 'exec: "nosuch": executable file not found in $PATH' in str(caught.value)


class FakeShim:
    """What Execs uses of the shim."""

    def __init__(self, pid: int, config: dict, cg):
        self.pid, self.config, self.cgroup = pid, config, cg
        self.id, self.runc, self.exit = "c" * 64, False, None
        self.reaped = probes.Reaped()

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.reaped.reaped(pid, status)


async def upload_of(*parts: bytes, after: asyncio.Event | None = None):
    """The parts as an upload, sent once `after` is set (if given): stdin that comes later."""
    if after is not None:
        await after.wait()
    for part in parts:
        yield part


def EXEC(cmd, **kw) -> dict:
    config = {"Cmd": cmd, "Env": [], "WorkingDir": "", "User": "", "Privileged": False, "Tty": False,
              "AttachStdin": False, "AttachStdout": True, "AttachStderr": True, "DetachKeys": "",
              "ConsoleSize": None}
    config.update(kw)
    return config


def run_execs(container, scenario):
    pid, config, cg = container
    shim = FakeShim(pid, config, cg)

    async def main():
        asyncio.get_running_loop().add_signal_handler(signal.SIGCHLD, shim.reap)
        try:
            return await asyncio.wait_for(scenario(Execs(shim)), 20)
        finally:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGCHLD)
    return asyncio.run(main())


async def collect(gen) -> list:
    return [chunk async for chunk in gen]


def test_execs_pipes_stdin_env_and_exit(container):
    async def scenario(execs):
        chunks = await collect(execs.run("e1", EXEC(
            ["sh", "-c", 'echo "$A $B $PWD"; ' + SCRIPT], Env=["B=exec"], WorkingDir="/",
            AttachStdin=True), False, upload_of(b"hel", b"lo\n")))
        return chunks, execs.state("e1"), execs.state("other")
    chunks, state, other = run_execs(container, scenario)
    assert chunks[0]["pid"] > 0 and chunks[-1] == {"exit_code": 3}
    out = b"".join(data for meta, data in (c for c in chunks if isinstance(c, tuple)) if meta == {"fd": 1})
    err = b"".join(data for meta, data in (c for c in chunks if isinstance(c, tuple)) if meta == {"fd": 2})
    assert out == b"container exec /\nout\ngot hello\n" and err == b"err\n"
    assert state == {"known": True, "running": False, "pid": chunks[0]["pid"], "exit_code": 3}
    assert other["known"] is False


def test_execs_tty_size_and_resize(container):
    async def scenario(execs):
        resized = asyncio.Event()
        gen = execs.run("t1", EXEC(["sh", "-c", "stty size; read x; stty size; echo $TERM"], Tty=True,
                                   AttachStdin=True, ConsoleSize=[20, 70]), False,
                        upload_of(b"x\n", after=resized))
        chunks = [await gen.__anext__(), await gen.__anext__()]   # its pid, then the first size
        await execs.resize("t1", 40, 120)
        resized.set()   # only now the line `read` waits for
        return chunks + await collect(gen)
    chunks = run_execs(container, scenario)
    out = b"".join(c[1] for c in chunks if isinstance(c, tuple))
    assert all(c[0] == {"fd": 0} for c in chunks if isinstance(c, tuple))
    assert b"20 70" in out and b"40 120" in out and b"xterm" in out
    assert chunks[-1] == {"exit_code": 0}


def test_execs_not_found_detach_and_caller_leaving(container):
    async def scenario(execs):
        failed = await collect(execs.run("n1", EXEC(["nosuch"]), False, None))
        detached = await collect(execs.run("d1", EXEC(["sh", "-c", "sleep 0.3; exit 5"]), True, None))
        assert execs.state("d1")["running"]
        gen = execs.run("l1", EXEC(["sh", "-c", "while :; do echo spam; done & sleep 0.5; kill -9 $$"]),
                        False, None)
        await gen.__anext__()
        await gen.__anext__()
        await gen.aclose()   # the caller went away: the process runs on to its end
        await eventually(lambda: not execs.state("d1")["running"] and not execs.state("l1")["running"], 10,
                         "the detached exec and the one left by its caller to end")
        return failed, detached, execs.state("d1"), execs.state("l1")
    failed, detached, d1, l1 = run_execs(container, scenario)
    assert failed[0] == {"pid": 0} and failed[-1] == {"exit_code": 127}
    assert failed[1][0] == {"fd": 1} and failed[1][1].startswith(
        b'OCI runtime exec failed: exec failed: unable to start container process: exec: "nosuch": '
        b'executable file not found in $PATH: unknown')
    assert len(detached) == 1 and detached[0]["pid"] > 0
    assert d1["exit_code"] == 5 and not d1["running"]
    assert l1["exit_code"] == 137 and not l1["running"]
