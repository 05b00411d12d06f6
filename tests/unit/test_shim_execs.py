"""services.shim.execs without a container: the exec's spec, exit codes, Docker's start
failure, pty sizing, and the session bookkeeping with a fake spawn."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from services.common import errors, wire
from services.shim import execs as execs_mod
from services.shim.execs import Execs, Session, exec_spec, exit_code, merged_env, set_size, start_failure
from services.shim.runtime import StartError, enter

from ..polling import eventually

CONFIG = {
    "process": {"args": ["nginx"], "env": ["PATH=/bin", "A=1", "B=2"], "cwd": "/srv", "terminal": False,
                "user": {"uid": 101, "gid": 101},
                "capabilities": {"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"],
                                 "permitted": ["CAP_CHOWN"], "inheritable": [], "ambient": []}},
    "linux": {"seccomp": {"defaultAction": "SCMP_ACT_ERRNO"}, "namespaces": []},
    "annotations": {wire.ANNOTATION_USER: "nginx"},
}


def EXEC(**kw) -> dict:
    config = {"Cmd": ["sh"], "Env": [], "WorkingDir": "", "User": "", "Privileged": False, "Tty": False,
              "AttachStdin": False, "AttachStdout": True, "AttachStderr": True, "DetachKeys": "",
              "ConsoleSize": None}
    config.update(kw)
    return config


def test_exit_codes():
    assert exit_code(3 << 8) == 3
    assert exit_code(signal.SIGKILL) == 137


def test_start_failure_is_dockers_message():
    assert start_failure('exec: "nosuch": executable file not found in $PATH') == (
        b'OCI runtime exec failed: exec failed: unable to start container process: exec: "nosuch": '
        b'executable file not found in $PATH: unknown\r\n')
    # runc's own message says "exec failed" already.
    assert start_failure("exec failed: x").startswith(b"OCI runtime exec failed: exec failed: x: unknown")


def test_merged_env_later_wins_in_place():
    assert merged_env(["A=1", "B=2"], ["TERM=xterm"], ["A=3", "C"]) == ["A=3", "B=2", "TERM=xterm", "C"]


def test_exec_spec_keeps_the_container_by_default():
    spec = exec_spec(CONFIG, EXEC(Cmd=["ls", "-l"], Env=["B=x"]))
    p = spec["process"]
    assert p["args"] == ["ls", "-l"] and p["env"] == ["PATH=/bin", "A=1", "B=x"] and p["cwd"] == "/srv"
    assert p["user"] == {"uid": 101, "gid": 101} and spec["annotations"][wire.ANNOTATION_USER] == "nginx"
    assert p["capabilities"]["bounding"] == ["CAP_CHOWN"] and "seccomp" in spec["linux"]
    assert CONFIG["process"]["args"] == ["nginx"]   # a copy


def test_exec_spec_user_cwd_tty_privileged():
    spec = exec_spec(CONFIG, EXEC(User="0:5", WorkingDir="/tmp", Tty=True, Privileged=True),
                     held={"CAP_SYS_ADMIN", "CAP_CHOWN"})
    p = spec["process"]
    assert p["user"] == {"uid": 0, "gid": 5} and spec["annotations"][wire.ANNOTATION_USER] == "0:5"
    assert p["cwd"] == "/tmp" and p["terminal"] and "TERM=xterm" in p["env"]
    assert p["capabilities"]["bounding"] == ["CAP_CHOWN", "CAP_SYS_ADMIN"]
    assert "seccomp" not in spec["linux"]
    assert exec_spec(CONFIG, EXEC(User="root"))["process"]["user"] == {"uid": 0, "gid": 0}


def test_set_size():
    calls = []

    class Kernel:
        def set_window_size(self, fd, rows, columns):
            calls.append((fd, rows, columns))
    assert set_size(7, [30, 100], Kernel()) and calls == [(7, 30, 100)]
    assert not set_size(7, None, Kernel()) and not set_size(7, [0, 0], Kernel()) and len(calls) == 1
    master, slave = os.openpty()
    try:
        set_size(master, [33, 111])
        import fcntl
        import struct
        import termios
        rows, cols = struct.unpack("HHHH", fcntl.ioctl(slave, termios.TIOCGWINSZ, b"\0" * 8))[:2]
        assert (rows, cols) == (33, 111)
    finally:
        os.close(master)
        os.close(slave)


def test_session_forgets_its_caller():
    async def main():
        blocked = asyncio.Event()

        class Watched(asyncio.Queue):
            """Tells when a put finds no room (and so waits)."""
            async def put(self, item) -> None:
                if self.full():
                    blocked.set()
                await super().put(item)

        s = Session("e", False, queue=Watched(64))
        for n in range(64):
            await s.emit(n)
        put = asyncio.ensure_future(s.emit(64))     # full: waits for room
        await asyncio.wait_for(blocked.wait(), 5)
        assert not put.done()
        s.forget_caller()
        await asyncio.wait_for(put, 1)
        await s.emit(65)                            # dropped
        assert s.queue.qsize() <= 1
    asyncio.run(main())


class FakeShim:
    def __init__(self):
        self.pid, self.config, self.cgroup = 42, CONFIG, None
        self.id, self.runc, self.exit = "c" * 64, False, None


def test_state_resize_and_start_failure(monkeypatch):
    def fail(*args, **kw):
        raise StartError('exec: "nosuch": executable file not found in $PATH', 127)
    monkeypatch.setattr(enter, "spawn", fail)
    execs = Execs(FakeShim())

    async def main():
        return [c async for c in execs.run("x", EXEC(Cmd=["nosuch"], Tty=True), False, None)]
    chunks = asyncio.run(main())
    assert chunks[0] == {"pid": 0} and chunks[-1] == {"exit_code": 127}
    assert chunks[1][0] == {"fd": 0} and b"executable file not found" in chunks[1][1]
    assert execs.state("x") == {"known": True, "running": False, "pid": 0, "exit_code": 127}
    assert execs.state("y") == {"known": False, "running": False, "pid": 0, "exit_code": None}
    asyncio.run(execs.resize("x", 10, 10))   # no terminal left: nothing to do
    with pytest.raises(errors.NotFound, match="No such exec instance: y"):
        asyncio.run(execs.resize("y", 10, 10, timeout=0))
    with pytest.raises(errors.Conflict):
        asyncio.run(main())   # started once only


def test_refusals():
    shim = FakeShim()
    execs = Execs(shim)

    async def first(**kw):
        return await execs.run(kw.pop("id", "a"), EXEC(**kw), False, None).__anext__()
    with pytest.raises(errors.BadParameter):
        asyncio.run(first(Cmd=[]))
    shim.exit = {"code": 0}
    with pytest.raises(errors.Conflict, match="not running"):
        asyncio.run(first(id="c"))
    assert execs_mod.DRAIN_AFTER_EXIT == 1.0


def test_runc_exec_with_a_terminal_names_the_console_socket(tmp_path):
    """A tty exec under runc: its process spec asks for a terminal (and its size), and runc
    is told where to send the terminal's master; without one, neither."""
    import json
    process = {**CONFIG["process"], "consoleSize": {"height": 30, "width": 100}}
    command, pid_path = enter.runc_exec(str(tmp_path), "c" * 64, "/run/x", ["sh"], "exec-1", process,
                                        console_socket="/run/x/sock/tx-1.sock")
    at = command.index("--console-socket")
    assert command[at + 1] == "/run/x/sock/tx-1.sock" and command[command.index("exec") + 1] == "--detach"
    spec = json.loads((tmp_path / "exec-1.json").read_text())
    assert spec["terminal"] is True and spec["args"] == ["sh"] and spec["consoleSize"] == {"height": 30, "width": 100}
    command, _ = enter.runc_exec(str(tmp_path), "c" * 64, "/run/x", ["sh"], "exec-2", process)
    spec = json.loads((tmp_path / "exec-2.json").read_text())
    assert "--console-socket" not in command and spec["terminal"] is False and "consoleSize" not in spec
    assert enter.runc_exec_done(pid_path) is None and not (tmp_path / "exec-1.json").exists()


def test_the_master_runc_sent_is_taken_without_waiting():
    import socket
    import tempfile
    from services.shim.runtime import runc as runc_runtime
    with tempfile.TemporaryDirectory(dir="/tmp") as short:
        path = os.path.join(short, "tx.sock")
        with runc_runtime.console_socket(path) as listener:
            with pytest.raises(StartError, match="runc sent no terminal"):
                runc_runtime.receive_master(listener, timeout=0)   # nothing sent: an error, at once
            r, w = os.pipe()
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as runc_side:
                runc_side.connect(path)
                socket.send_fds(runc_side, [b"m"], [w])
            got = runc_runtime.receive_master(listener, timeout=0)
            try:
                assert got not in (r, w) and not os.get_inheritable(got)
                os.write(got, b"through")
                assert os.read(r, 7) == b"through"
            finally:
                for fd in (r, w, got):
                    os.close(fd)
        assert not os.path.exists(path)


def test_wait_answers_once_the_exec_ended_or_the_container_exited(monkeypatch):
    """shim.exec_wait: an exec whose run has not reached the shim yet is waited for; one
    never run is unknown once the container exits."""
    def fail(*args, **kw):
        raise StartError('exec: "nosuch": executable file not found in $PATH', 127)
    monkeypatch.setattr(enter, "spawn", fail)
    shim = FakeShim()

    async def main():
        shim.exited = asyncio.Event()
        execs = Execs(shim)
        early = asyncio.ensure_future(execs.wait("x"))
        never = asyncio.ensure_future(execs.wait("y"))
        # Both wait for a session to come: neither exec has reached the shim.
        await eventually(lambda: len(execs.added._waiters) == 2, what="both waits to wait")
        assert not early.done() and not never.done()
        assert [c async for c in execs.run("x", EXEC(Cmd=["nosuch"]), False, None)][-1] == {"exit_code": 127}
        assert await asyncio.wait_for(early, 2) == {"known": True, "running": False, "pid": 0, "exit_code": 127}
        assert not never.done()
        shim.exit = {"code": 0}
        shim.exited.set()
        assert await asyncio.wait_for(never, 2) == {"known": False, "running": False, "pid": 0, "exit_code": None}
        assert await execs.wait("z") == {"known": False, "running": False, "pid": 0, "exit_code": None}
    asyncio.run(main())


def test_a_resize_before_the_exec_started_waits_for_its_terminal(monkeypatch):
    """A client older than API 1.42 sends no ConsoleSize and resizes right after it asked
    for the start: that may reach the shim before the exec's run does, and before runc sent
    the exec's terminal. As dockerd's, the resize waits for both."""
    import fcntl
    import struct
    import termios
    shim = FakeShim()
    shim.runc = True
    execs = Execs(shim)
    master, slave = os.openpty()

    def size() -> tuple[int, int]:
        return struct.unpack("HHHH", fcntl.ioctl(slave, termios.TIOCGWINSZ, b"\0" * 8))[:2]

    class Reaped:
        def wait(self, pid):
            return asyncio.get_running_loop().create_future()   # it never exits here

    shim.reaped = Reaped()

    async def main():
        shim.exited = asyncio.Event()
        early = asyncio.ensure_future(execs.resize("x", 40, 120))
        await eventually(lambda: len(execs.added._waiters) == 1, what="the resize to wait for the exec")

        async def spawn(exec_id, config, stdio):
            await asyncio.wait_for(early, 5)   # it came in, before the master
            assert execs.sessions[exec_id].size == [40, 120]
            return 4242, master
        monkeypatch.setattr(execs, "_spawn", spawn)

        run = execs.run("x", EXEC(Tty=True, ConsoleSize=[10, 20]), False, None)
        assert await run.__anext__() == {"pid": 4242}
        assert size() == (40, 120)        # the later resize's, not the create's
        await execs.resize("x", 50, 132)  # with the master there: at once
        assert size() == (50, 132)
        await run.aclose()
        task = execs.sessions["x"].task
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

        # One whose exec never reaches the shim: no such exec, once the container has exited.
        never = asyncio.ensure_future(execs.resize("y", 10, 10))
        await eventually(lambda: len(execs.added._waiters) == 1, what="the second resize to wait")
        shim.exit = {"code": 0}
        shim.exited.set()
        with pytest.raises(errors.NotFound, match="No such exec instance: y"):
            await asyncio.wait_for(never, 2)
    try:
        asyncio.run(main())
    finally:
        for fd in (master, slave):
            try:
                os.close(fd)
            except OSError:
                pass   # the session closed its master
