"""kill -9 of the service doing an import, halfway through a large body: nothing is left behind."""

from __future__ import annotations

import glob
import os
import signal
import socket

from ..polling import until
from .images import TarBuilder
from .test_images_v1 import import_image


def snapshot(daemon) -> dict:
    root = daemon.data_root
    return {
        "layers": sorted(os.listdir(os.path.join(root, "layers"))),
        "blobs": sorted(os.listdir(os.path.join(root, "blobs", "sha256"))),
        "images": sorted(r["Id"] for r in daemon.get("/v1.45/images/json?all=1").json()),
    }


def test_kill_9_mid_import_leaves_nothing_and_retry_succeeds(daemon):
    body = TarBuilder().file("big.bin", os.urandom(96 << 20)).bytes()
    before = snapshot(daemon)
    staging = os.path.join(daemon.data_root, "tmp", "registry")
    registry = daemon.pid("registry")

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(60)
    sock.connect(daemon.sock)
    sock.sendall(f"POST /images/create?fromSrc=-&repo=half&tag=way HTTP/1.1\r\nHost: x\r\n"
                 f"Content-Type: application/x-tar\r\nContent-Length: {len(body)}\r\n\r\n".encode())
    half = len(body) // 2
    sock.sendall(body[:half])
    # Wait until the service is writing the body into its staging area, then kill it.
    until(lambda: any(os.path.getsize(p) > 1 << 20 for p in glob.glob(f"{staging}/*/blob")), 30,
          "the import to reach the staging area")
    os.kill(registry, signal.SIGKILL)
    try:
        sock.sendall(body[half:])
    except OSError:
        pass  # the api may stop reading once it knows the import failed
    answer = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except OSError:
            break
        if not chunk:
            break
        answer += chunk
        if b"\r\n\r\n" in answer and (b"registry" in answer or b"error" in answer):
            break
    sock.close()
    head = answer.split(b"\r\n", 1)[0]
    assert head.startswith(b"HTTP/1.1 503") or b'"error"' in answer, answer[:300]
    assert b"registry" in answer

    daemon.wait_new_pid("registry", registry)
    until(lambda: daemon.get("/v1.45/images/json").status == 200, 20, "the new registry service to answer",
          interval=0.1)
    assert snapshot(daemon) == before
    assert os.listdir(staging) == []
    assert daemon.get("/images/half:way/json").status == 404

    image = import_image(daemon, body, "half", "way")
    assert daemon.get("/images/half:way/json").json()["id"] == image
    assert daemon.request("DELETE", "/images/half:way").status == 204
    assert snapshot(daemon) == before
