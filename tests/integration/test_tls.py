"""TCP with --tlsverify: only clients whose certificate the given CA signed are served."""

from __future__ import annotations

import os
import ssl
import subprocess

import docker
import pytest

from .daemon import Daemon, discard, free_port, new_root


def openssl(*args: str, cwd: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(d: str, name: str) -> None:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
            "-keyout", f"{name}-key.pem", "-out", f"{name}.pem", cwd=d)


def make_cert(d: str, ca: str, name: str, ext: str) -> None:
    with open(os.path.join(d, f"{name}.ext"), "w") as fh:
        fh.write(ext)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
            "-keyout", f"{name}-key.pem", "-out", f"{name}.csr", cwd=d)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}-key.pem",
            "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=d)


@pytest.fixture(scope="module")
def tls_daemon():
    root = new_root()
    certs = os.path.join(root, "certs")
    os.makedirs(certs)
    make_ca(certs, "ca")
    make_ca(certs, "rogue-ca")
    make_cert(certs, "ca", "server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    make_cert(certs, "ca", "client", "extendedKeyUsage=clientAuth\n")
    make_cert(certs, "rogue-ca", "rogue", "extendedKeyUsage=clientAuth\n")
    d = Daemon(root, free_port(), extra_args=[
        "--tlsverify", "--tlscacert", f"{certs}/ca.pem",
        "--tlscert", f"{certs}/server.pem", "--tlskey", f"{certs}/server-key.pem"])
    d.certs = certs
    d.start()
    yield d
    discard(d)


def client_context(certs: str, cert: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=f"{certs}/ca.pem")
    if cert:
        ctx.load_cert_chain(f"{certs}/{cert}.pem", f"{certs}/{cert}-key.pem")
    return ctx


def test_client_signed_by_the_ca_is_served(tls_daemon):
    r = tls_daemon.tcp_request("GET", "/version", context=client_context(tls_daemon.certs, "client"))
    assert r.status == 200 and r.json()["Version"]


def test_client_without_certificate_is_refused(tls_daemon):
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        tls_daemon.tcp_request("GET", "/version", context=client_context(tls_daemon.certs, None))


def test_client_of_another_ca_is_refused(tls_daemon):
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        tls_daemon.tcp_request("GET", "/version", context=client_context(tls_daemon.certs, "rogue"))


def test_plain_http_to_the_tls_port_gets_nothing(tls_daemon):
    with pytest.raises((ConnectionError, OSError, Exception)):
        r = tls_daemon.tcp_request("GET", "/version", timeout=5)
        assert r.status != 200


def test_docker_py_with_client_certificate(tls_daemon, monkeypatch):
    # requests lets these override the CA docker-py passes it.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    c = tls_daemon.certs
    tls = docker.tls.TLSConfig(client_cert=(f"{c}/client.pem", f"{c}/client-key.pem"),
                               ca_cert=f"{c}/ca.pem", verify=True)
    client = docker.APIClient(base_url=f"https://127.0.0.1:{tls_daemon.port}", tls=tls, version="auto")
    assert client.version()["ApiVersion"] == "1.45"


def test_unix_socket_needs_no_certificate(tls_daemon):
    assert tls_daemon.get("/_ping").status == 200
