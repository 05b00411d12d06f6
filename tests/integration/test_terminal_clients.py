"""Terminals with today's clients (issue 12): the docker CLI under a pty (`docker run -it`,
`docker attach`, `docker exec -it`) with both runtimes, the default detach sequence
leaving the container running; docker-py's attach and exec sockets with its detach keys
(the default, its config file's, its `detachKeys` parameter)."""

from __future__ import annotations

import fcntl
import os
import select
import signal
import socket
import struct
import subprocess
import termios
import time

import docker
import pytest

from ..polling import until
from .containers import ensure_busybox

RUNTIMES = ("builtin", "runc")
DETACH = b"\x10\x11"   # ctrl-p ctrl-q


class Terminal:
    """The docker CLI run with a pty as its terminal, as a user at a shell runs it."""

    def __init__(self, daemon, *args: str):
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        env = dict(os.environ, DOCKER_HOST=daemon.unix_url, DOCKER_CONFIG=os.path.join(daemon.root, "cli"))
        env.pop("DOCKER_CLI_HINTS", None)
        self.proc = subprocess.Popen(["docker", *args], stdin=slave, stdout=slave, stderr=slave, env=env,
                                     start_new_session=True)
        os.close(slave)
        self.output = b""

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def read_until(self, needle: bytes, timeout: float = 30) -> bytes:
        deadline = time.monotonic() + timeout
        while needle not in self.output:
            left = deadline - time.monotonic()
            assert left > 0, f"waiting for {needle!r} in {self.output!r}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:   # EIO: the CLI is gone and its terminal with it
                    data = b""
                assert data, f"the CLI ended waiting for {needle!r}: {self.output!r}"
                self.output += data
        return self.output

    def exited(self, timeout: float = 30) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self.drain()

    def drain(self) -> None:
        while select.select([self.master], [], [], 0)[0]:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.output += data

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


@pytest.fixture
def terminals():
    opened: list[Terminal] = []
    yield opened
    for t in opened:
        t.close()


@pytest.fixture(scope="module", autouse=True)
def busybox(daemon):
    ensure_busybox(daemon)


def _remove(client, name: str) -> None:
    """The test's container gone, whatever the test came to: the session's leak check
    counts a container left running."""
    try:
        client.containers.get(name).remove(force=True)
    except docker.errors.NotFound:
        pass


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_run_it_detach_attach_and_exec_it(daemon, client, terminals, runtime):
    name = f"term-{runtime}"
    try:
        run = Terminal(daemon, "run", "-it", "--name", name, "--runtime", runtime, "busybox", "sh")
        terminals.append(run)
        run.type(b"echo ran $((20+1))\r")
        run.read_until(b"ran 21")
        run.type(DETACH)
        assert run.exited() == 0, run.output
        ctr = client.containers.get(name)
        assert ctr.status == "running" and ctr.attrs["HostConfig"]["Runtime"] == runtime
        assert ctr.attrs["Config"]["StdinOnce"] is True   # the client gone, its stdin stays open: sh lives

        attach = Terminal(daemon, "attach", name)
        terminals.append(attach)
        attach.type(b"echo back $((40+2))\r")
        attach.read_until(b"back 42")
        attach.type(DETACH)
        attach.exited()
        assert b"read escape sequence" in attach.output
        ctr.reload()
        assert ctr.status == "running"

        ex = Terminal(daemon, "exec", "-it", name, "sh")
        terminals.append(ex)
        # Typed at its prompt, as a user does: a CLI before API 1.42 (Debian 12's docker.io)
        # sizes the exec's terminal only once it has started, and lines typed ahead may run first.
        ex.read_until(b"# ")
        ex.type(b"tty; stty size; echo in $((3*3))\r")
        out = ex.read_until(b"in 9")
        assert b"/dev/pts/" in out and b"30 100" in out, out
        ex.type(b"exit 7\r")
        assert ex.exited() == 7, ex.output
    finally:
        _remove(client, name)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_exec_it_resizes_and_ends_with_its_shell(daemon, client, terminals, runtime):
    ctr = client.containers.run("busybox", ["tail", "-f", "/dev/null"], detach=True, runtime=runtime)
    try:
        ex = Terminal(daemon, "exec", "-it", ctr.id, "sh")
        terminals.append(ex)
        ex.read_until(b"# ")
        fcntl.ioctl(ex.master, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 132, 0, 0))

        def resized() -> bool:
            # As a terminal tells its process, again each time: the CLI watches SIGWINCH only
            # once its session runs, which may be after the shell's prompt came.
            os.kill(ex.proc.pid, signal.SIGWINCH)
            ex.output = b""
            ex.type(b"stty size\r")
            return b"50 132" in ex.read_until(b"# ", 10)
        until(resized, 20, "the exec's terminal to take the new size")
        ex.type(DETACH)   # the CLI detaches; the shell runs on in the container
        ex.exited()
        top = ctr.top(ps_args="-o pid,args")
        assert any(p[-1] == "sh" for p in top["Processes"]), top
    finally:
        ctr.remove(force=True)


# ------------------------------------------------------------------- docker-py

def _raw(sock) -> socket.socket:
    return getattr(sock, "_sock", sock)


def _ends(sock: socket.socket, timeout: float = 10) -> bytes:
    """What comes until the daemon closes the connection."""
    sock.settimeout(timeout)
    got = b""
    while True:
        try:
            chunk = sock.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            return got
        if not chunk:
            return got
        got += chunk


@pytest.mark.parametrize("params, configured, keys", [
    ({}, None, DETACH),
    ({}, "ctrl-p", b"\x10"),
    ({"detachKeys": "ctrl-x"}, "ctrl-p", b"\x18"),
])
def test_docker_py_attach_socket_detaches(client, params, configured, keys):
    api = client.api
    saved = dict(api._general_configs)
    if configured:
        api._general_configs["detachKeys"] = configured   # as ~/.docker/config.json sets it
    try:
        ctr = client.containers.run("busybox", "cat", detach=True, stdin_open=True, tty=True)
        sock = _raw(api.attach_socket(ctr.id, {"stdin": True, "stdout": True, "stream": True, **params}))
        sock.sendall(b"seen\n")
        assert b"seen\r\nseen\r\n" in _read_until(sock, b"seen\r\nseen\r\n")
        for key in keys:
            sock.sendall(bytes([key]))
        assert b"^" not in _ends(sock)   # no key reached the terminal (its echo would show ^P)
        sock.close()
        ctr.reload()
        assert ctr.status == "running"
        ctr.remove(force=True)
    finally:
        api._general_configs.clear()
        api._general_configs.update(saved)


@pytest.mark.parametrize("configured, keys", [(None, DETACH), ("ctrl-p", b"\x10")])
def test_docker_py_exec_socket_detaches(client, configured, keys):
    api = client.api
    saved = dict(api._general_configs)
    if configured:
        api._general_configs["detachKeys"] = configured   # docker-py sends it in the exec's create
    try:
        ctr = client.containers.run("busybox", "cat", detach=True, stdin_open=True)
        exec_id = api.exec_create(ctr.id, "cat", stdin=True, tty=True, stdout=True)["Id"]
        assert api.exec_inspect(exec_id)["DetachKeys"] == (configured or "")
        sock = _raw(api.exec_start(exec_id, tty=True, socket=True))
        sock.sendall(b"x\n")
        _read_until(sock, b"x\r\nx\r\n")
        for key in keys:
            sock.sendall(bytes([key]))
        _ends(sock)
        sock.close()
        info = api.exec_inspect(exec_id)
        assert info["Running"] is True, info
        ctr.remove(force=True)
    finally:
        api._general_configs.clear()
        api._general_configs.update(saved)


def _read_until(sock: socket.socket, needle: bytes, timeout: float = 10) -> bytes:
    deadline = time.monotonic() + timeout
    got = b""
    while needle not in got:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        assert time.monotonic() < deadline, got
        chunk = sock.recv(4096)
        assert chunk, got
        got += chunk
    return got
