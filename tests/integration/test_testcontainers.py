"""testcontainers-python (4.x) on Dockyard, as a test suite of a CI host uses it: a generic
container with an exposed port fetched from the host, waits on its logs, exec, environment
and volume mappings, and two containers on a testcontainers Network reaching each other by
alias. Its reaper (Ryuk) is disabled, as it must be where Docker Hub cannot be reached.

Every container is given Dns of the stand-in resolver (networking.py), so that no name
lookup goes past loopback; the names asked are the network's own.
"""

from __future__ import annotations

import http.client
import os

import docker
import pytest
from testcontainers.core.config import ConnectionMode, testcontainers_config
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network
from testcontainers.core.waiting_utils import wait_for_logs

from .containers import ensure_busybox
from .networking import standin  # noqa: F401 (a fixture)

# wait_for_logs with a pattern is what suites of every 4.x release call; 4.13 and later
# prefer their structured wait strategies and say so.
pytestmark = pytest.mark.filterwarnings("ignore:The wait_for_logs function:DeprecationWarning")

# A page from the environment, then a line to wait for, then httpd in the foreground.
HTTPD = ["sh", "-c", 'mkdir -p /www && echo "$BODY" > /www/index.html && echo "httpd ready for $BODY" '
                     '&& exec httpd -f -p 80 -h /www']


@pytest.fixture
def tc(daemon, monkeypatch, standin):
    """testcontainers pointed at the test daemon (DOCKER_HOST) with Ryuk off; every
    container it started is gone at the end (the session's leak check counts them)."""
    ensure_busybox(daemon)
    monkeypatch.setenv("DOCKER_HOST", daemon.unix_url)
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
    monkeypatch.setenv("DOCKER_CONFIG", os.path.join(daemon.root, "cli"))
    assert testcontainers_config.ryuk_disabled, "Ryuk's image is on Docker Hub: it must be off"
    started: list[DockerContainer] = []

    def container(body: str) -> DockerContainer:
        c = DockerContainer("busybox:latest").with_command(HTTPD).with_env("BODY", body)
        c.with_kwargs(dns=standin.servers)
        started.append(c)
        return c

    yield container
    for c in started:
        if c._container is not None:
            try:
                c.stop()
            except docker.errors.NotFound:
                pass
    check = docker.DockerClient(base_url=daemon.unix_url, version="1.45")
    try:
        left = check.containers.list(all=True, filters={"label": "org.testcontainers=true"})
        assert left == [], left
    finally:
        check.close()


def get(host: str, port: int, path: str = "/") -> str:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", path)
        reply = conn.getresponse()
        assert reply.status == 200, reply.status
        return reply.read().decode()
    finally:
        conn.close()


def test_an_exposed_port_answers_a_real_request(tc, monkeypatch):
    with tc("exposed").with_exposed_ports(80) as web:
        wait_for_logs(web, "httpd ready for exposed", timeout=30, interval=0.1)
        # The host as testcontainers finds it here (in a container itself, with /.dockerenv,
        # it takes the container's gateway: an address of the daemon's bridge).
        host, port = web.get_container_host_ip(), web.get_exposed_port(80)
        assert port != 80 and 1024 <= port <= 65535
        assert get(host, port) == "exposed\n"
        # And as on a CI host that is no container: DOCKER_HOST's host, localhost for a socket.
        monkeypatch.setattr(testcontainers_config, "connection_mode_override", ConnectionMode.docker_host)
        assert web.get_container_host_ip() == "localhost"
        assert get("localhost", web.get_exposed_port(80)) == "exposed\n"
        # The container Docker reports, labelled as testcontainers labels its own.
        attrs = web.get_wrapped_container().attrs
        assert attrs["Config"]["Labels"]["org.testcontainers"] == "true"
        assert attrs["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"] == str(port)


def test_wait_for_logs_exec_env_and_volume_mappings(tc, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "from-host.txt").write_text("written on the host\n")
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    (readonly / "page.html").write_text("a mapped page\n")
    c = (tc("mapped").with_env("GREETING", "hello there")
         .with_volume_mapping(str(shared), "/shared", mode="rw")
         .with_volume_mapping(str(readonly), "/www/mapped", mode="ro")
         .with_exposed_ports(80))
    with c:
        waited = wait_for_logs(c, r"httpd ready for \w+", timeout=30, interval=0.1)
        assert waited < 30
        result = c.exec(["sh", "-c", 'echo "$GREETING"; cat /shared/from-host.txt'])
        assert result.exit_code == 0 and result.output == b"hello there\nwritten on the host\n", result
        result = c.exec("sh -c 'echo from the container > /shared/back.txt'")
        assert result.exit_code == 0, result
        assert (shared / "back.txt").read_text() == "from the container\n"
        result = c.exec(["sh", "-c", "echo no > /www/mapped/page.html"])
        assert result.exit_code != 0 and b"Read-only file system" in result.output, result
        assert c.exec(["sh", "-c", "exit 9"]).exit_code == 9
        assert get(c.get_container_host_ip(), c.get_exposed_port(80), "/mapped/page.html") == "a mapped page\n"
        stdout, _ = c.get_logs()
        assert stdout == b"httpd ready for mapped\n"


def test_two_containers_on_a_network_reach_each_other_by_alias(tc, daemon):
    with Network() as net:
        with tc("from-alpha").with_network(net).with_network_aliases("alpha") as alpha, \
             tc("from-beta").with_network(net).with_network_aliases("beta") as beta:
            for c in (alpha, beta):
                wait_for_logs(c, "httpd ready", timeout=30, interval=0.1)
            got = alpha.exec(["wget", "-q", "-O", "-", "http://beta/"])
            assert got.exit_code == 0 and got.output == b"from-beta\n", got
            got = beta.exec(["wget", "-q", "-O", "-", "http://alpha/"])
            assert got.exit_code == 0 and got.output == b"from-alpha\n", got
            endpoint = alpha.get_wrapped_container().attrs["NetworkSettings"]["Networks"][net.name]
            assert "alpha" in endpoint["Aliases"] and endpoint["NetworkID"] == net.id
        assert daemon.get(f"/v1.45/networks/{net.id}").status == 200
    assert daemon.get(f"/v1.45/networks/{net.id}").status == 404
