"""Helpers for log tests: a container that writes a line only when the test says it, and
Docker's multiplexed frames read apart."""

from __future__ import annotations

import os
import struct
import subprocess

from ..polling import until


class Echo:
    """A container that writes each line the test sends to its stdin (and nothing else): the
    test decides when each line is written, so every line is an entry of its own, at a
    time after the one before."""

    def __init__(self, client, **kw):
        self.ctr = client.containers.run("busybox", ["sh", "-c", 'while read -r l; do echo "$l"; done'],
                                         stdin_open=True, detach=True, **kw)
        self.sock = self.ctr.attach_socket(params={"stdin": 1, "stream": 1})

    def send(self, line: str) -> None:
        self.sock._sock.sendall(line.encode() + b"\n")

    def say(self, line: str) -> None:
        """Write a line and wait until it is in the log."""
        self.send(line)
        until(lambda: line.encode() + b"\n" in self.ctr.logs(), 20, f"{line!r} in the log", interval=0.02)

    def close(self) -> None:
        self.sock.close()
        self.ctr.remove(force=True)


def frames(body: bytes) -> list[tuple[int, bytes]]:
    """The (stream, payload) frames of a multiplexed body."""
    out, at = [], 0
    while at < len(body):
        fd, size = struct.unpack(">BxxxI", body[at:at + 8])
        out.append((fd, body[at + 8:at + 8 + size]))
        at += 8 + size
    return out


def cli(daemon, tmp_path, *args: str, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, DOCKER_HOST=daemon.unix_url, DOCKER_CONFIG=str(tmp_path))
    return subprocess.run(["docker", *args], capture_output=True, timeout=60, env=env, **kw)


def cli_env(daemon, tmp_path) -> dict:
    return dict(os.environ, DOCKER_HOST=daemon.unix_url, DOCKER_CONFIG=str(tmp_path))
