"""Where a build's parts come from: a remote context and ADD's URLs over HTTP (a loopback
server), FROM images in a registry that wants credentials (X-Registry-Config), `pull`,
`cachefrom`; and the cache across restarts of every service."""

from __future__ import annotations

import base64
import crypt
import functools
import http.server
import json
import os
import tempfile
import threading
from urllib.parse import quote

import pytest

from .builds import build, built_id, context, ok_build, output, run_image
from .containers import ensure_busybox
from .registries import running_registry


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    """A plain HTTP server on 127.0.0.1 serving a directory: (its URL, the directory)."""
    root = tmp_path_factory.mktemp("web")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", root
    server.shutdown()
    server.server_close()


def test_remote_context_tar_and_remote_dockerfile(daemon, web):
    ensure_busybox(daemon)
    url, root = web
    (root / "ctx.tar").write_bytes(context({"Dockerfile": "FROM busybox\nCOPY f /f\nCMD [\"cat\", \"/f\"]\n",
                                            "f": "from afar\n"}))
    status, msgs = build(daemon, b"", f"remote={quote(url + '/ctx.tar')}")
    _, out = run_image(daemon, built_id(msgs))
    assert b"from afar" in out
    (root / "Dockerfile.txt").write_text("FROM busybox\nLABEL remote=plain\n")
    status, msgs = build(daemon, b"", f"remote={quote(url + '/Dockerfile.txt')}")
    assert daemon.get(f"/v1.45/images/{built_id(msgs)}/json").json()["Config"]["Labels"] == {"remote": "plain"}
    status, err = build(daemon, b"", f"remote={quote(url + '/nothing.tar')}")
    assert "404" in json.dumps(err)
    status, err = build(daemon, b"", "remote=" + quote("https://github.com/docker/nothing.git"))
    assert status == 400 and "git" in err["message"]


def test_add_of_a_url(daemon, web):
    url, root = web
    (root / "fetched.txt").write_text("fetched by ADD\n")
    image_id, _ = ok_build(daemon, f"FROM busybox\nADD {url}/fetched.txt /got/\nCMD [\"cat\", \"/got/fetched.txt\"]\n")
    _, out = run_image(daemon, image_id)
    assert b"fetched by ADD" in out
    status, msgs = build(daemon, context({"Dockerfile": f"FROM busybox\nADD {url}/absent.txt /x\n"}))
    assert "404" in json.dumps(msgs)


@pytest.fixture(scope="module")
def locked_registry():
    root = tempfile.mkdtemp(prefix="dy-registry-")
    with open(os.path.join(root, "htpasswd"), "w") as fh:
        fh.write(f"builder:{crypt.crypt('pa55', crypt.mksalt(crypt.METHOD_BLOWFISH))}\n")
    with running_registry(f"  htpasswd:\n    realm: test\n    path: {root}/htpasswd\n", root) as host:
        yield host


def _b64(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def test_from_an_image_in_a_registry_that_wants_credentials(daemon, locked_registry):
    ensure_busybox(daemon)
    image = f"{locked_registry}/private/base:1"
    assert daemon.request("POST", f"/images/busybox/tag?repo={locked_registry}/private/base&tag=1").status == 201
    r = daemon.request("POST", f"/v1.45/images/{locked_registry}/private/base/push?tag=1",
                       headers={"X-Registry-Auth": _b64({"username": "builder", "password": "pa55"})})
    assert r.status == 200 and b"digest" in r.body, r.body
    assert daemon.request("DELETE", f"/v1.45/images/{image}").status == 200
    tar = context({"Dockerfile": f"FROM {image}\nCMD [\"true\"]\n"})
    status, msgs = build(daemon, tar)
    assert "authentication required" in json.dumps(msgs), msgs
    config = {locked_registry: {"username": "builder", "password": "pa55"}}
    status, msgs = build(daemon, tar, headers={"X-Registry-Config": _b64(config)})
    assert built_id(msgs)
    assert daemon.get(f"/v1.45/images/{image}/json").status == 200   # FROM pulled it
    # pull=1 asks the registry again even though the image is here now.
    status, msgs = build(daemon, tar, "pull=1", headers={"X-Registry-Config": _b64(config)})
    assert built_id(msgs)
    assert any(m.get("status", "").startswith("Pulling from private/base") for m in msgs), msgs


def test_cachefrom_limits_the_cache_to_those_images(daemon):
    dockerfile = "FROM busybox\nRUN echo cachefrom > /c\nCMD [\"cat\", \"/c\"]\n"
    first, _ = ok_build(daemon, dockerfile, query="t=cache-source")
    _, text = ok_build(daemon, dockerfile, query="cachefrom=" + quote(json.dumps(["cache-source"])))
    assert text.count("Using cache") == 2, text
    _, text = ok_build(daemon, dockerfile, query="cachefrom=" + quote(json.dumps(["busybox"])))
    assert "Using cache" not in text, text


def test_the_cache_outlives_restarts_of_every_service(fresh_daemon):
    daemon = fresh_daemon.start()
    dockerfile = "FROM busybox\nCOPY a /a\nRUN cat /a > /b\nCMD [\"cat\", \"/b\"]\n"
    first, _ = ok_build(daemon, dockerfile, {"a": "kept"})
    for service in ("builder", "registry", "supervisor", "api"):
        old = daemon.pid(service)
        daemon.supervisorctl("restart", service)
        daemon.wait_new_pid(service, old)
    daemon.wait_ready()
    again, text = ok_build(daemon, dockerfile, {"a": "kept"})
    assert again == first and text.count("Using cache") == 3, text


def test_a_context_over_the_cap_is_refused(fresh_daemon, tmp_path):
    config = tmp_path / "dockyard.yaml"
    config.write_text("max-build-context: 100000\n")
    fresh_daemon.extra_args += ["--config-file", str(config)]
    daemon = fresh_daemon.start()
    ensure_busybox(daemon)
    status, err = build(daemon, context({"Dockerfile": "FROM busybox\n", "big": b"x" * 200000}))
    assert status == 413 and "larger than 100000" in err["message"], err
    status, msgs = build(daemon, context({"Dockerfile": "FROM busybox\nCMD [\"true\"]\n"}))
    assert built_id(msgs)
    assert "Successfully built" in output(msgs)
