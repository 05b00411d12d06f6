"""Helpers for build tests: contexts as tar bytes, raw POST /build and its JSON messages."""

from __future__ import annotations

import io
import json
import tarfile
import time

from .containers import ensure_busybox, remove, run


def context(files: dict[str, bytes | str], **special: tarfile.TarInfo) -> bytes:
    """A tar of `files` (name -> content; a name ending in "/" is a directory), plus any
    raw entries given (name -> TarInfo, e.g. symlinks)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, content in files.items():
            info = tarfile.TarInfo(name.rstrip("/"))
            info.mtime = int(time.time())
            if name.endswith("/"):
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(info)
                continue
            data = content.encode() if isinstance(content, str) else content
            info.size, info.mode = len(data), 0o644
            tf.addfile(info, io.BytesIO(data))
        for info in special.values():
            tf.addfile(info)
    return buf.getvalue()


def messages(body: bytes) -> list[dict]:
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def output(msgs: list[dict]) -> str:
    return "".join(m.get("stream", "") for m in msgs)


def build(daemon, tar: bytes, query: str = "", prefix: str = "/v1.45", headers: dict | None = None,
          timeout: float = 120):
    """POST /build; (status, messages) — or (status, the error's JSON) when it is not 200."""
    r = daemon.request("POST", f"{prefix}/build?{query}", body=tar,
                       headers={"Content-Type": "application/x-tar", **(headers or {})}, timeout=timeout)
    if r.status != 200:
        return r.status, r.json()
    return r.status, messages(r.body)


def built_id(msgs: list[dict]) -> str:
    """The image a build's messages say it made (its aux record); fails if it made none."""
    errors = [m for m in msgs if "error" in m]
    assert not errors, (errors, output(msgs))
    ids = [m["aux"]["ID"] for m in msgs if "aux" in m]
    assert len(ids) == 1, msgs
    return ids[0]


def ok_build(daemon, dockerfile: str, files: dict | None = None, query: str = "", prefix: str = "/v1.45") -> tuple[str, str]:
    """Build a Dockerfile (busybox present); the image id and the build's output."""
    ensure_busybox(daemon)
    status, msgs = build(daemon, context({"Dockerfile": dockerfile, **(files or {})}), query, prefix)
    assert status == 200, msgs
    return built_id(msgs), output(msgs)


def containers(daemon) -> list[dict]:
    r = daemon.get("/v1.45/containers/json?all=1")
    assert r.status == 200, r.body
    return r.json()


def run_image(daemon, image: str) -> tuple[int, bytes]:
    """Run an image's own command to its end; its exit code and output (the container is
    removed: later tests count containers)."""
    cid, code, out = run(daemon, [], Image=image)
    remove(daemon, cid)
    return code, out
