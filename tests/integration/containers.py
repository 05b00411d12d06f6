"""Helpers for container tests: raw v1.0 calls and a hijacked attach over a plain socket."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time

from .images import busybox_rootfs, compress
from .test_images_v1 import import_image

BUSYBOX = "busybox:latest"


def ensure_busybox(daemon) -> str:
    r = daemon.get("/images/busybox:latest/json")
    if r.status == 200:
        return r.json()["id"]
    return import_image(daemon, compress(busybox_rootfs(), "gzip"), "busybox", "latest")


def create(daemon, prefix: str = "", name: str | None = None, **config) -> str:
    config.setdefault("Image", BUSYBOX)
    path = f"{prefix}/containers/create" + (f"?name={name}" if name else "")
    r = daemon.request("POST", path, body=json.dumps(config).encode(),
                       headers={"Content-Type": "application/json"})
    assert r.status == 201, r.body
    return r.json()["Id"]


def start(daemon, cid: str, prefix: str = "") -> None:
    r = daemon.request("POST", f"{prefix}/containers/{cid}/start")
    assert r.status in (200, 204), r.body


def wait(daemon, cid: str, prefix: str = "", timeout: float = 60) -> int:
    r = daemon.request("POST", f"{prefix}/containers/{cid}/wait", timeout=timeout)
    assert r.status == 200, r.body
    return r.json()["StatusCode"]


def run(daemon, cmd: list[str], **config) -> tuple[str, int, bytes]:
    """Create, start and wait for a container; its id, exit code and output (v1.0 attach logs)."""
    cid = create(daemon, Cmd=cmd, **config)
    start(daemon, cid)
    code = wait(daemon, cid)
    out = daemon.request("POST", f"/containers/{cid}/attach?logs=1&stdout=1&stderr=1").body
    return cid, code, out


def remove(daemon, cid: str, force: bool = True) -> None:
    r = daemon.request("DELETE", f"/containers/{cid}?force={int(force)}&v=1")
    assert r.status in (204, 404), r.body


def inspect(daemon, cid: str, prefix: str = "/v1.45") -> dict:
    r = daemon.get(f"{prefix}/containers/{cid}/json")
    assert r.status == 200, r.body
    return r.json()


class Attached:
    """A hijacked attach, made as a v1.0 client makes it: no Upgrade header, raw bytes after."""

    def __init__(self, daemon, cid: str, query: str, upgrade: bool = False, prefix: str = ""):
        extra = "Connection: Upgrade\r\nUpgrade: tcp\r\n" if upgrade else ""
        self._open(daemon, f"POST {prefix}/containers/{cid}/attach?{query} HTTP/1.1\r\nHost: x\r\n"
                           f"Content-Type: text/plain\r\n{extra}\r\n".encode())

    def _open(self, daemon, request: bytes) -> None:
        """Send `request` on a new connection and read the answer's head; raw bytes follow."""
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(daemon.sock)
        self.sock.sendall(request)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            assert chunk, head
            head += chunk
        self.head = head.decode()
        self.status = int(self.head.split()[1])
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close_stdin(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)

    def read_until(self, needle: bytes, timeout: float = 10) -> bytes:
        deadline = time.monotonic() + timeout
        while needle not in self.buffer:
            assert time.monotonic() < deadline, self.buffer
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buffer += chunk
        return self.buffer

    def read_all(self, timeout: float = 30) -> bytes:
        self.sock.settimeout(timeout)
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                return self.buffer
            self.buffer += chunk

    def close(self) -> None:
        self.sock.close()


def docker(daemon, *args: str, input: bytes | None = None, timeout: float = 60):
    """The docker CLI against `daemon`, as a user runs it; its CompletedProcess."""
    env = dict(os.environ, DOCKER_HOST=daemon.unix_url, DOCKER_CONFIG=os.path.join(daemon.root, "cli"))
    return subprocess.run(["docker", *args], input=input, capture_output=True, timeout=timeout, env=env,
                          stdin=None if input is not None else subprocess.DEVNULL)
