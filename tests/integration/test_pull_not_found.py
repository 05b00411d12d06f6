"""An image no registry has: create answers 404 (`No such image`), and the pull that a
client tries next fails at once with Docker's words for what the registry said, so
docker-py's `containers.run` raises ImageNotFound. Registries here are loopback ones
(Docker Hub is never asked)."""

from __future__ import annotations

import http.server
import json
import os
import threading

import docker
import pytest

from .daemon import free_port
from .registries import running_registry


class _HubLike(http.server.BaseHTTPRequestHandler):
    """What Docker Hub answers for a repository it does not have (or that wants a login):
    a Bearer challenge, an anonymous token, and a 401 for the manifest even with it."""

    def do_GET(self):
        if self.path.startswith("/token"):
            self._send(200, {"token": "anonymous", "expires_in": 300})
            return
        realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        self._send(401, {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
                   {"WWW-Authenticate": f'Bearer realm="{realm}",service="hub.test"'})

    def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for key, value in {"Content-Type": "application/json", "Content-Length": str(len(data)),
                           **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def hub_like():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HubLike)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


DENIED = ("pull access denied for dockerpytest_does_not_exist, repository does not exist or may require "
          "'docker login': unauthorized: authentication required")


def test_run_of_an_image_no_registry_has_raises_image_not_found(fresh_daemon, hub_like):
    conf = os.path.join(fresh_daemon.root, "c.yaml")
    with open(conf, "w") as fh:
        fh.write(f"default-registry: {hub_like}\n")
    fresh_daemon.extra_args = ["--config-file", conf]
    d = fresh_daemon.start()
    r = d.request("POST", "/v1.45/images/create?fromImage=dockerpytest_does_not_exist&tag=latest")
    assert r.status == 404 and r.json()["message"] == DENIED, r.body
    client = docker.DockerClient(base_url=d.unix_url, version="1.45")
    try:
        with pytest.raises(docker.errors.ImageNotFound) as info:
            client.containers.run("dockerpytest_does_not_exist")
        assert "repository does not exist" in str(info.value.explanation)
        assert client.containers.list(all=True) == []
    finally:
        client.close()


def test_a_registry_without_the_repository_is_a_404_in_dockers_words(daemon):
    with running_registry() as registry:
        r = daemon.request("POST", f"/v1.45/images/create?fromImage={registry}/test/nosuch&tag=1")
        assert r.status == 404
        # What Debian's registry answers (MANIFEST_UNKNOWN), as Docker words it.
        assert r.json()["message"] == f"manifest for {registry}/test/nosuch:1 not found: manifest unknown: " \
                                      "manifest unknown", r.body
        assert daemon.get(f"/v1.45/images/{registry}/test/nosuch:1/json").status == 404


def test_a_registry_that_cannot_be_reached_fails_at_once(daemon):
    host = f"127.0.0.1:{free_port()}"   # nothing listens there
    r = daemon.request("POST", f"/v1.45/images/create?fromImage={host}/x&tag=1")
    assert r.status == 503 and f"the registry {host} cannot be reached" in r.json()["message"], r.body
