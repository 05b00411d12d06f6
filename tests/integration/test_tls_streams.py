"""Hijacked streams (attach, exec start) over TCP with TLS: a client that ends its stdin by
closing its side for writing still reads the output to its end, as from dockerd. The
docker CLI sends a TLS close_notify (Go's tls.Conn.CloseWrite), other clients a TCP FIN;
asyncio's stock TLS closed the connection at either, losing the output."""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess

import docker
import pytest

from .containers import create, ensure_busybox
from .logs import frames
from .test_tls import client_context, tls_daemon  # noqa: F401 (tls_daemon: a fixture)


@pytest.fixture
def cli(tls_daemon, tmp_path):
    """The docker CLI as DOCKER_TLS_VERIFY and DOCKER_CERT_PATH point it at the TLS daemon."""
    ensure_busybox(tls_daemon)
    certs = tmp_path / "certs"
    certs.mkdir()
    for have, want in (("ca.pem", "ca.pem"), ("client.pem", "cert.pem"), ("client-key.pem", "key.pem")):
        shutil.copy(os.path.join(tls_daemon.certs, have), certs / want)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(DOCKER_HOST=f"tcp://127.0.0.1:{tls_daemon.port}", DOCKER_TLS_VERIFY="1",
               DOCKER_CERT_PATH=str(certs), DOCKER_CONFIG=str(tmp_path / "config"))

    def run(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", *args], env=env, capture_output=True, timeout=60, input=input,
                              stdin=None if input is not None else subprocess.DEVNULL)
    return run


def test_docker_run_and_exec_over_tls(cli):
    out = cli("run", "--rm", "busybox", "sh", "-c", "echo to stdout; echo to stderr >&2; exit 5")
    assert (out.returncode, out.stdout, out.stderr) == (5, b"to stdout\n", b"to stderr\n"), out
    out = cli("run", "--rm", "-i", "busybox", "sh", "-c", "wc -l")
    assert out.returncode == 0 and out.stdout.strip() == b"0", out
    out = cli("run", "--rm", "-i", "busybox", "cat", input=b"one\ntwo\n" * 20000)
    assert out.returncode == 0 and out.stdout == b"one\ntwo\n" * 20000, (out.returncode, len(out.stdout))
    name = "tls-exec-target"
    assert cli("run", "-d", "--name", name, "busybox", "tail", "-f", "/dev/null").returncode == 0
    try:
        out = cli("exec", "-i", name, "sh", "-c", "tr a-z A-Z; exit 7", input=b"through exec\n")
        assert (out.returncode, out.stdout) == (7, b"THROUGH EXEC\n"), out
        out = cli("exec", name, "echo", "no stdin")
        assert (out.returncode, out.stdout) == (0, b"no stdin\n"), out
    finally:
        assert cli("rm", "-f", name).returncode == 0


def _hijack(tls_daemon, path: str, body: bytes = b"") -> ssl.SSLSocket:
    """A hijacked stream over TLS, as a raw client opens it; the response head read."""
    raw = socket.create_connection(("127.0.0.1", tls_daemon.port), timeout=30)
    sock = client_context(tls_daemon.certs, "client").wrap_socket(raw, server_hostname="127.0.0.1")
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 f"Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def _to_the_end(sock: ssl.SSLSocket) -> bytes:
    got = b""
    while chunk := sock.recv(65536):
        got += chunk
    return got


def test_a_tcp_half_close_ends_stdin_and_the_output_still_comes(tls_daemon):
    ensure_busybox(tls_daemon)
    client = docker.DockerClient(base_url=tls_daemon.unix_url, version="1.45")
    # No tty: with one, the end of stdin ends the session (as dockerd's), not the input alone.
    ctr = client.containers.get(create(tls_daemon, Cmd=["sh", "-c", "tr a-z A-Z; echo done >&2"], OpenStdin=True,
                                       StdinOnce=True))
    try:
        sock = _hijack(tls_daemon, f"/v1.45/containers/{ctr.id}/attach?stream=1&stdin=1&stdout=1&stderr=1")
        ctr.start()
        sock.sendall(b"half closed\n")
        # A FIN on the socket under TLS, no close_notify: the session stays as it is for reading.
        socket.socket.shutdown(sock, socket.SHUT_WR)
        assert frames(_to_the_end(sock)) == [(1, b"HALF CLOSED\n"), (2, b"done\n")]
        sock.close()
        assert ctr.wait(timeout=30)["StatusCode"] == 0

        # An exec's stream the same way.
        runner = client.containers.run("busybox", ["tail", "-f", "/dev/null"], detach=True)
        try:
            exec_id = client.api.exec_create(runner.id, ["sh", "-c", "wc -c"], stdin=True)["Id"]
            sock = _hijack(tls_daemon, f"/v1.45/exec/{exec_id}/start", json.dumps({}).encode())
            sock.sendall(b"12345")
            socket.socket.shutdown(sock, socket.SHUT_WR)
            assert frames(_to_the_end(sock)) == [(1, b"5\n")]
            sock.close()
            assert client.api.exec_inspect(exec_id)["ExitCode"] == 0
        finally:
            runner.remove(force=True)
    finally:
        ctr.remove(force=True)
        client.close()
