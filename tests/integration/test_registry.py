"""Pull and push against a real registry (Debian's docker-registry on a loopback port)."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

import pytest

from ..polling import until
from .containers import Attached, create, ensure_busybox, remove, start, wait
from .daemon import UnixHTTPConnection, free_port
from .registries import running_registry
from .images import TarBuilder, compress
from .test_images_v1 import import_image, messages


@pytest.fixture(scope="module")
def registry():
    """An open registry over plain HTTP on 127.0.0.1."""
    with running_registry() as host:
        yield host


@pytest.fixture(scope="module", autouse=True)
def busybox(daemon):
    return ensure_busybox(daemon)


def pull(daemon, query: str, prefix: str = "") -> tuple[int, list[dict] | dict]:
    r = daemon.request("POST", f"{prefix}/images/create?{query}")
    if r.status != 200:
        return r.status, r.json()
    return r.status, messages(r.body)


def test_push_remove_pull_run(daemon, registry):
    assert daemon.request("POST", f"/images/busybox/tag?repo={registry}/test/bb&tag=1").status == 201
    r = daemon.request("POST", f"/images/{registry}/test/bb/push?tag=1")
    assert r.status == 200, r.body
    out = messages(r.body)
    assert out[0] == {"status": f"The push refers to repository [{registry}/test/bb]"}
    digest = out[-1]["status"].split("digest: ")[1].split()[0]
    assert not any("error" in m for m in out)
    # The registry has what was pushed.
    manifest = json.loads(urllib.request.urlopen(urllib.request.Request(
        f"http://{registry}/v2/test/bb/manifests/1",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})).read())
    assert manifest["config"]["digest"] == "sha256:" + daemon.get("/images/busybox/json").json()["id"]
    # Pushing again finds every layer there.
    again = messages(daemon.request("POST", f"/images/{registry}/test/bb/push?tag=1").body)
    assert any(m.get("status") == "Layer already exists" for m in again)

    assert daemon.request("DELETE", f"/images/{registry}/test/bb:1").status == 204
    status, out = pull(daemon, f"fromImage={registry}/test/bb&tag=1")
    assert status == 200 and out[-1]["status"] == f"Status: Downloaded newer image for {registry}/test/bb:1"
    assert {"status": f"Digest: {digest}"} in out
    inspect = daemon.get(f"/v1.45/images/{registry}/test/bb:1/json").json()
    assert inspect["RepoDigests"] == [f"{registry}/test/bb@{digest}"]
    # By digest, as the push reported it.
    status, out = pull(daemon, f"fromImage={registry}/test/bb@{digest}")
    assert status == 200 and out[-1]["status"].endswith(f"{registry}/test/bb@{digest}"), out
    cid = create(daemon, Image=f"{registry}/test/bb:1", Cmd=["echo", "pulled and running"])
    start(daemon, cid)
    assert wait(daemon, cid) == 0
    assert daemon.request("POST", f"/containers/{cid}/attach?logs=1&stdout=1").body == b"pulled and running\n"
    remove(daemon, cid)


def test_pull_into_an_empty_store_fetches_layers(fresh_daemon, registry, daemon):
    d = fresh_daemon.start()
    ensure_busybox(daemon)
    daemon.request("POST", f"/images/busybox/tag?repo={registry}/test/fresh&tag=v1")
    assert daemon.request("POST", f"/images/{registry}/test/fresh/push?tag=v1").status == 200
    status, out = pull(d, f"fromImage={registry}/test/fresh&tag=v1", prefix="/v1.45")
    assert status == 200, out
    assert any(m.get("status") == "Pull complete" for m in out)
    assert any(m.get("status") == "Downloading" and "progressDetail" in m for m in out)
    # An identical pull that is complete fetches no layer again.
    status, out = pull(d, f"fromImage={registry}/test/fresh&tag=v1", prefix="/v1.45")
    assert [m["status"] for m in out if m.get("id") not in (None, "v1")] == []
    assert out[-1]["status"] == f"Status: Image is up to date for {registry}/test/fresh:v1"
    assert os.listdir(os.path.join(d.data_root, "tmp", "registry")) == []


def test_v1_registry_parameter_and_unknown_images(daemon, registry):
    daemon.request("POST", f"/images/busybox/tag?repo={registry}/test/v1form&tag=t")
    assert daemon.request("POST", f"/images/{registry}/test/v1form/push?tag=t").status == 200
    daemon.request("DELETE", f"/images/{registry}/test/v1form:t")
    status, out = pull(daemon, f"fromImage=test/v1form&registry={registry}&tag=t")
    assert status == 200 and "Downloaded newer image" in out[-1]["status"]
    status, body = pull(daemon, f"fromImage={registry}/test/nosuch&tag=t")
    assert status == 404 and "not found" in body["message"]
    r = daemon.request("POST", "/images/nosuch/push")
    assert r.status == 404


def test_docker_run_flow_pulls_on_404(daemon, registry):
    """Spec 3.1: create answers 404, the pull brings the image, create, start, attach."""
    image = f"{registry}/test/runflow:1"
    daemon.request("POST", f"/images/busybox/tag?repo={registry}/test/runflow&tag=1")
    assert daemon.request("POST", f"/images/{registry}/test/runflow/push?tag=1").status == 200
    assert daemon.request("DELETE", f"/images/{image}").status == 204
    body = json.dumps({"Image": image, "Cmd": ["echo", "from the run flow"]}).encode()
    r = daemon.request("POST", "/containers/create", body=body, headers={"Content-Type": "application/json"})
    assert r.status == 404
    status, _ = pull(daemon, f"fromImage={registry}/test/runflow&tag=1")
    assert status == 200
    r = daemon.request("POST", "/containers/create", body=body, headers={"Content-Type": "application/json"})
    assert r.status == 201
    cid = r.json()["Id"]
    start(daemon, cid)
    a = Attached(daemon, cid, "logs=1&stream=1&stdout=1")
    assert a.read_all() == b"from the run flow\n"
    a.close()
    remove(daemon, cid)


def test_docker_cli_push_and_pull(daemon, registry, tmp_path):
    env = dict(os.environ, DOCKER_HOST=daemon.unix_url, DOCKER_CONFIG=str(tmp_path))

    def cli(*args):
        return subprocess.run(["docker", *args], capture_output=True, timeout=120, env=env)
    image = f"{registry}/test/cli:latest"
    assert cli("tag", "busybox", image).returncode == 0
    out = cli("push", image)
    assert out.returncode == 0, out.stderr
    assert b"digest: sha256:" in out.stdout
    assert b": Pushed" in out.stdout or b": Layer already exists" in out.stdout or b": Mounted from" in out.stdout
    assert cli("rmi", image).returncode == 0
    out = cli("pull", image)
    assert out.returncode == 0, out.stderr
    assert b"Status: Downloaded newer image" in out.stdout


class _LyingRegistry(http.server.BaseHTTPRequestHandler):
    """Serves one image whose layer is not what its digest says."""
    layer = compress(TarBuilder().file("evil", b"not what was promised").bytes(), "gzip")
    claimed = "sha256:" + hashlib.sha256(b"something else").hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [claimed]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(config),
                   "digest": "sha256:" + hashlib.sha256(config).hexdigest()},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(layer), "digest": claimed}]}).encode()

    def do_GET(self):
        if self.path == "/v2/":
            body = b"{}"
        elif "/manifests/" in self.path:
            body = self.manifest
        elif self.path.endswith(json.loads(self.manifest)["config"]["digest"]):
            body = self.config
        elif "/blobs/" in self.path:
            body = self.layer
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_layer_whose_digest_lies_is_refused_with_nothing_stored(daemon):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _LyingRegistry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{server.server_address[1]}"
    layers = set(os.listdir(os.path.join(daemon.data_root, "layers")))
    blobs = set(os.listdir(os.path.join(daemon.data_root, "blobs", "sha256")))
    try:
        status, out = pull(daemon, f"fromImage={host}/liar&tag=1")
    finally:
        server.shutdown()
    assert status == 200 and "error" in out[-1] and "verification" in out[-1]["error"], out
    assert daemon.get(f"/images/{host}/liar:1/json").status == 404
    assert set(os.listdir(os.path.join(daemon.data_root, "layers"))) == layers
    assert set(os.listdir(os.path.join(daemon.data_root, "blobs", "sha256"))) == blobs
    assert os.listdir(os.path.join(daemon.data_root, "tmp", "registry")) == []


@pytest.fixture(scope="module")
def basic_registry():
    """A registry that wants Basic auth (htpasswd, bcrypt) for everything."""
    import crypt
    root = tempfile.mkdtemp(prefix="dy-registry-")
    with open(os.path.join(root, "htpasswd"), "w") as fh:
        fh.write(f"tester:{crypt.crypt('s3cret', crypt.mksalt(crypt.METHOD_BLOWFISH))}\n")
    with running_registry(f"  htpasswd:\n    realm: test\n    path: {root}/htpasswd\n", root) as host:
        yield host


def _auth_header(user: str, password: str) -> dict:
    import base64
    raw = json.dumps({"username": user, "password": password}).encode()
    return {"X-Registry-Auth": base64.urlsafe_b64encode(raw).decode()}


def test_basic_auth_push_pull_and_stored_credentials(daemon, basic_registry):
    image = f"{basic_registry}/secure/bb"
    daemon.request("POST", f"/images/busybox/tag?repo={image}&tag=1")
    # Without credentials the registry refuses; the error says so.
    r = daemon.request("POST", f"/images/{image}/push?tag=1")
    assert r.status == 200 and "authentication required" in messages(r.body)[-1]["error"], r.body
    # With X-Registry-Auth it works.
    r = daemon.request("POST", f"/v1.45/images/{image}/push?tag=1", headers=_auth_header("tester", "s3cret"))
    assert r.status == 200 and "digest" in messages(r.body)[-1]["status"], r.body
    # Wrong credentials are refused by POST /auth, good ones stored; GET /auth shows them (no password).
    body = lambda pw: json.dumps({"username": "tester", "password": pw, "email": "t@example.com",
                                  "serveraddress": basic_registry}).encode()
    r = daemon.request("POST", "/auth", body=body("wrong"), headers={"Content-Type": "application/json"})
    assert r.status == 401
    r = daemon.request("POST", "/auth", body=body("s3cret"), headers={"Content-Type": "application/json"})
    assert r.status == 200
    assert daemon.get("/auth").json() == {"username": "tester", "email": "t@example.com"}
    assert "s3cret" not in daemon.get("/auth").body.decode()
    r = daemon.request("POST", "/v1.45/auth", body=body("s3cret"), headers={"Content-Type": "application/json"})
    assert r.json()["Status"] == "Login Succeeded"
    # The stored credentials serve a pull that brings none.
    daemon.request("DELETE", f"/images/{image}:1")
    status, out = pull(daemon, f"fromImage={image}&tag=1")
    assert status == 200 and "Downloaded newer image" in out[-1]["status"], out


def test_search(daemon, registry):
    daemon.request("POST", f"/images/busybox/tag?repo={registry}/findme/app&tag=1")
    assert daemon.request("POST", f"/images/{registry}/findme/app/push?tag=1").status == 200
    r = daemon.get(f"/images/search?term={registry}/findme")
    assert r.status == 200 and r.json() == [{"Name": f"{registry}/findme/app", "Description": ""}]
    r = daemon.get(f"/v1.45/images/search?term={registry}/findme")
    assert r.json()[0]["name"] == f"{registry}/findme/app" and r.json()[0]["is_official"] is False
    assert daemon.get(f"/images/search?term={registry}/nothing-like-it").json() == []
    r = daemon.get(f"/images/search?term=127.0.0.1:{free_port()}/x")
    assert r.status == 503 and "cannot be reached" in r.json()["message"]
    assert daemon.get("/images/search").status == 400


def test_kill_9_mid_pull_leaves_nothing_and_the_pull_then_succeeds(fresh_daemon, daemon, registry):
    import glob
    import signal
    import socket
    from .test_images_v1 import import_image
    big = import_image(daemon, TarBuilder().file("big.bin", os.urandom(80 << 20)).bytes(), f"{registry}/test/big", "1")
    assert daemon.request("POST", f"/images/{registry}/test/big/push?tag=1").status == 200
    d = fresh_daemon.start()
    staging = os.path.join(d.data_root, "tmp", "registry")
    before = (sorted(os.listdir(os.path.join(d.data_root, "layers"))),
              sorted(os.listdir(os.path.join(d.data_root, "blobs", "sha256"))))
    old = d.pid("registry")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(60)
    sock.connect(d.sock)
    sock.sendall(f"POST /images/create?fromImage={registry}/test/big&tag=1 HTTP/1.1\r\nHost: x\r\n"
                 "Connection: close\r\n\r\n".encode())
    until(lambda: any(os.path.getsize(p) > 1 << 20 for p in glob.glob(f"{staging}/*/blob")), 30,
          "the pull to reach the staging area", interval=0.02)
    os.kill(old, signal.SIGKILL)
    answer = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        answer += chunk
    sock.close()
    assert b"registry" in answer and b"error" in answer, answer[-300:]
    d.wait_new_pid("registry", old)
    until(lambda: d.get("/v1.45/images/json").status == 200, 20, "the new registry service to answer", interval=0.1)
    after = (sorted(os.listdir(os.path.join(d.data_root, "layers"))),
             sorted(os.listdir(os.path.join(d.data_root, "blobs", "sha256"))))
    assert after == before and os.listdir(staging) == []
    assert d.get(f"/images/{registry}/test/big:1/json").status == 404
    status, out = pull(d, f"fromImage={registry}/test/big&tag=1")
    assert status == 200 and "Downloaded newer image" in out[-1]["status"], out[-3:]
    assert d.get(f"/images/{registry}/test/big:1/json").json()["id"] == big
    daemon.request("DELETE", f"/images/{registry}/test/big:1")


def test_a_manifest_list_picks_this_platform(daemon, registry):
    daemon.request("POST", f"/images/busybox/tag?repo={registry}/test/multi&tag=amd")
    r = daemon.request("POST", f"/images/{registry}/test/multi/push?tag=amd")
    digest = messages(r.body)[-1]["status"].split("digest: ")[1].split()[0]
    size = int(messages(r.body)[-1]["status"].split("size: ")[1])
    import platform as _p
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(_p.machine(), _p.machine())
    other = "arm64" if arch != "arm64" else "amd64"
    index = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": size,
             "digest": "sha256:" + "0" * 64, "platform": {"architecture": other, "os": "linux"}},
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": size,
             "digest": digest, "platform": {"architecture": arch, "os": "linux"}},
        ]}).encode()
    req = urllib.request.Request(f"http://{registry}/v2/test/multi/manifests/list", data=index, method="PUT",
                                 headers={"Content-Type": "application/vnd.docker.distribution.manifest.list.v2+json"})
    try:
        urllib.request.urlopen(req)
    except urllib.error.HTTPError as exc:
        # The registry checks the entries exist: the other platform's cannot. Use only ours then.
        assert exc.code == 400
        data = json.loads(index)
        data["manifests"] = data["manifests"][1:]
        req = urllib.request.Request(f"http://{registry}/v2/test/multi/manifests/list", data=json.dumps(data).encode(),
                                     method="PUT", headers={"Content-Type": data["mediaType"]})
        urllib.request.urlopen(req)
    status, out = pull(daemon, f"fromImage={registry}/test/multi&tag=list")
    assert status == 200 and {"status": f"Digest: {digest}"} in out, out
    assert daemon.get(f"/images/{registry}/test/multi:list/json").json()["id"] == \
        daemon.get("/images/busybox/json").json()["id"]


class _TokenIssuer(http.server.BaseHTTPRequestHandler):
    """A token service: signs JWTs (RS256, with its certificate in x5c) with openssl."""
    key = cert_der = None

    def do_GET(self):
        import base64
        from urllib.parse import parse_qs, urlsplit
        query = parse_qs(urlsplit(self.path).query)
        auth = self.headers.get("Authorization", "")
        if auth != "Basic " + base64.b64encode(b"tokenuser:tokenpass").decode():
            self.send_error(401)
            return
        access = []
        for scope in query.get("scope", []):
            kind, name, actions = scope.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        claims = {"iss": "dockyard-test-issuer", "sub": "tokenuser", "aud": query["service"][0],
                  "exp": now + 300, "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(), "access": access}
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self.cert_der).decode()]}
        enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
        signing_input = f"{enc(header)}.{enc(claims)}"
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key],
                                   input=signing_input.encode(), capture_output=True, check=True).stdout
        token = signing_input + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
        body = json.dumps({"token": token, "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def token_registry():
    root = tempfile.mkdtemp(prefix="dy-registry-")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=dockyard-test-issuer", "-keyout", f"{root}/key.pem", "-out", f"{root}/cert.pem"],
                   check=True, capture_output=True)
    der = subprocess.run(["openssl", "x509", "-in", f"{root}/cert.pem", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    _TokenIssuer.key, _TokenIssuer.cert_der = f"{root}/key.pem", der
    issuer = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TokenIssuer)
    threading.Thread(target=issuer.serve_forever, daemon=True).start()
    auth = (f"  token:\n    realm: http://127.0.0.1:{issuer.server_address[1]}/token\n"
            f"    service: dockyard-test-registry\n    issuer: dockyard-test-issuer\n"
            f"    rootcertbundle: {root}/cert.pem\n")
    try:
        with running_registry(auth, root) as host:
            yield host
    finally:
        issuer.shutdown()


def test_bearer_token_auth(daemon, token_registry):
    image = f"{token_registry}/tokened/bb"
    daemon.request("POST", f"/images/busybox/tag?repo={image}&tag=1")
    r = daemon.request("POST", f"/v1.45/images/{image}/push?tag=1", headers=_auth_header("tokenuser", "wrong"))
    assert "error" in messages(r.body)[-1]
    r = daemon.request("POST", f"/v1.45/images/{image}/push?tag=1", headers=_auth_header("tokenuser", "tokenpass"))
    assert r.status == 200 and "digest" in messages(r.body)[-1].get("status", ""), r.body
    daemon.request("DELETE", f"/images/{image}:1")
    r = daemon.request("POST", f"/v1.45/images/create?fromImage={image}&tag=1",
                       headers=_auth_header("tokenuser", "tokenpass"))
    assert r.status == 200 and "Downloaded newer image" in messages(r.body)[-1]["status"], r.body


class _HostileRegistry(http.server.BaseHTTPRequestHandler):
    """Serves, per repository name: a malformed manifest, a gzip bomb, or a blob that never ends."""
    import gzip as _gzip
    bomb = _gzip.compress(b"\0" * (40 << 20))
    bomb_digest = "sha256:" + hashlib.sha256(bomb).hexdigest()
    endless_digest = "sha256:" + "1" * 64
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "2" * 64]}}).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()

    def manifest(self, digest: str, size: int) -> bytes:
        return json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                       "size": len(self.config), "digest": self.config_digest},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                        "size": size, "digest": digest}]}).encode()

    def do_GET(self):
        if self.path == "/v2/":
            return self.send(b"{}")
        if self.path == "/v2/malformed/manifests/1":
            return self.send(b'{"schemaVersion": 2, "layers": "not a list"')
        if self.path == "/v2/bomb/manifests/1":
            return self.send(self.manifest(self.bomb_digest, len(self.bomb)))
        if self.path == "/v2/endless/manifests/1":
            return self.send(self.manifest(self.endless_digest, 1000))
        if self.path.endswith(self.config_digest):
            return self.send(self.config)
        if self.path.endswith(self.bomb_digest):
            return self.send(self.bomb)
        if self.path.endswith(self.endless_digest):
            self.send_response(200)
            self.end_headers()  # no length: the body goes on until the client stops reading
            try:
                for _ in range(100_000):
                    self.wfile.write(b"x" * 65536)
            except OSError:
                pass
            return
        self.send_error(404)

    def send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_hostile_registry_gets_clear_errors_and_the_worker_keeps_serving(fresh_daemon, daemon, registry):
    conf = os.path.join(fresh_daemon.root, "c.yaml")
    with open(conf, "w") as fh:
        fh.write(f"max-layer-bytes: {10 << 20}\nregistry-mirrors: [{registry}]\n")
    fresh_daemon.extra_args = ["--config-file", conf]
    d = fresh_daemon.start()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HostileRegistry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{server.server_address[1]}"
    try:
        status, body = pull(d, f"fromImage={host}/malformed&tag=1")
        assert status == 400 and "malformed manifest" in body["message"], body
        status, out = pull(d, f"fromImage={host}/bomb&tag=1")
        assert status == 200 and "expands to more than" in out[-1]["error"], out[-1]
        status, out = pull(d, f"fromImage={host}/endless&tag=1")
        assert status == 200 and "larger than the 1000 bytes announced" in out[-1]["error"], out[-1]
    finally:
        server.shutdown()
    assert os.listdir(os.path.join(d.data_root, "layers")) == []
    assert os.listdir(os.path.join(d.data_root, "tmp", "registry")) == []
    # The same worker still serves pulls; and docker.io images come from the mirror.
    daemon.request("POST", f"/images/busybox/tag?repo={registry}/library/mirrored&tag=1")
    assert daemon.request("POST", f"/images/{registry}/library/mirrored/push?tag=1").status == 200
    status, out = pull(d, "fromImage=mirrored&tag=1")
    assert status == 200 and out[-1]["status"] == "Status: Downloaded newer image for mirrored:1", out
    assert d.get("/images/mirrored:1/json").status == 200


def test_push_mounts_blobs_across_repositories(daemon, registry):
    daemon.request("POST", f"/images/busybox/tag?repo={registry}/mount/a&tag=1")
    assert daemon.request("POST", f"/images/{registry}/mount/a/push?tag=1").status == 200
    daemon.request("POST", f"/images/busybox/tag?repo={registry}/mount/b&tag=1")
    out = messages(daemon.request("POST", f"/images/{registry}/mount/b/push?tag=1").body)
    # Mounted from a repository of this registry the image is known in (mount/a, or one pushed before).
    assert any(m.get("status", "").startswith("Mounted from ") for m in out), out
    assert "digest" in out[-1]["status"]


def test_default_registry_serves_unqualified_names(fresh_daemon, daemon, registry):
    conf = os.path.join(fresh_daemon.root, "c.yaml")
    with open(conf, "w") as fh:
        fh.write(f"default-registry: {registry}\n")
    fresh_daemon.extra_args = ["--config-file", conf]
    d = fresh_daemon.start()
    daemon.request("POST", f"/images/busybox/tag?repo={registry}/library/defaulted&tag=1")
    assert daemon.request("POST", f"/images/{registry}/library/defaulted/push?tag=1").status == 200
    status, out = pull(d, "fromImage=defaulted&tag=1")
    assert status == 200 and out[-1]["status"] == "Status: Downloaded newer image for defaulted:1", out
    r = d.get("/images/search?term=defaulted")
    assert r.status == 200 and {"Name": "library/defaulted", "Description": ""} in r.json()


def test_a_pull_the_client_cancels_while_a_layer_unpacks_leaves_no_staging(fresh_daemon, registry):
    d = fresh_daemon.start()
    # Quick to fetch, slow to unpack: many small files (a few seconds' worth).
    layer = TarBuilder()
    for n in range(6000):
        layer.file(f"many/{n // 1000}/{n}", b"x")
    import_image(d, compress(layer.bytes(), "gzip"), f"{registry}/test/many", "1")
    assert d.request("POST", f"/images/{registry}/test/many/push?tag=1").status == 200
    assert d.request("DELETE", f"/images/{registry}/test/many:1").status in (200, 204)
    staging = os.path.join(d.data_root, "tmp", "registry")
    conn = UnixHTTPConnection(d.sock, timeout=30)
    conn.request("POST", f"/v1.45/images/create?fromImage={registry}/test/many&tag=1")
    response = conn.getresponse()
    seen = b""
    while b"Download complete" not in seen:  # its layer is being unpacked now
        line = response.readline()
        assert line, seen
        seen += line
    conn.close()  # the client gives up
    until(lambda: os.listdir(staging) == [], 30, "the cancelled pull's staging to go")
    # Nothing is written there afterwards by a thread that went on unpacking.
    assert d.get("/info").status == 200 and os.listdir(staging) == []
    assert d.get(f"/images/{registry}/test/many:1/json").status == 404


@pytest.mark.parametrize("prefix", ["", "/v1.45"])
def test_push_without_a_tag_pushes_every_tag_of_the_repository(daemon, registry, prefix):
    repo = f"{registry}/test/whole{prefix.replace('/', '').replace('.', '')}"
    second = TarBuilder()
    second.file("only-in-two", b"two")
    import_image(daemon, compress(second.bytes(), "gzip"), repo, "two")
    assert daemon.request("POST", f"/images/busybox/tag?repo={repo}&tag=one").status == 201
    ids = {tag: daemon.get(f"/v1.45/images/{repo}:{tag}/json").json()["Id"] for tag in ("one", "two")}
    assert ids["one"] != ids["two"]

    r = daemon.request("POST", f"{prefix}/images/{repo}/push")
    assert r.status == 200, r.body
    out = messages(r.body)
    assert not any("error" in m for m in out), out
    assert [m for m in out if m.get("status", "").startswith("The push refers")] == [
        {"status": f"The push refers to repository [{repo}]"}]   # once, for both tags
    pushed = [m["status"].split(":")[0] for m in out if "digest: sha256:" in m.get("status", "")]
    assert pushed == ["one", "two"]
    listed = json.loads(urllib.request.urlopen(f"http://{registry}/v2/{repo.split('/', 1)[1]}/tags/list").read())
    assert sorted(listed["tags"]) == ["one", "two"]

    for tag in ("one", "two"):
        assert daemon.request("DELETE", f"/images/{repo}:{tag}").status in (200, 204)
    for tag in ("one", "two"):
        status, pulled = pull(daemon, f"fromImage={repo}&tag={tag}", prefix="/v1.45")
        assert status == 200 and not any("error" in m for m in pulled), pulled
        assert daemon.get(f"/v1.45/images/{repo}:{tag}/json").json()["Id"] == ids[tag]


def test_push_of_a_repository_with_no_tag_here_is_a_404(daemon, registry):
    r = daemon.request("POST", f"/v1.45/images/{registry}/test/untagged/push")
    assert r.status == 404
    assert r.json()["message"] == f"An image does not exist locally with the tag: {registry}/test/untagged"


def test_docker_cli_push_all_tags(daemon, registry, tmp_path):
    env = dict(os.environ, DOCKER_HOST=daemon.unix_url, DOCKER_CONFIG=str(tmp_path))
    repo = f"{registry}/test/clitags"
    for tag in ("a", "b"):
        assert subprocess.run(["docker", "tag", "busybox", f"{repo}:{tag}"], env=env, timeout=60).returncode == 0
    out = subprocess.run(["docker", "push", "--all-tags", repo], capture_output=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert b"a: digest: sha256:" in out.stdout and b"b: digest: sha256:" in out.stdout, out.stdout
    listed = json.loads(urllib.request.urlopen(f"http://{registry}/v2/test/clitags/tags/list").read())
    assert sorted(listed["tags"]) == ["a", "b"]
