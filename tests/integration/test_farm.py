"""A test farm: three Dockyard hosts, each a network namespace with its own dockyardd on
TCP with TLS (certificates from deploy/certs.sh), and one pytest run of the farm suite
(tests/farm_suite: testcontainers, busybox httpd, a real request to each published port)
spread over them with pytest-xdist, each worker on its own host. The same suite on one
host gives the same results, and no host keeps a container afterwards."""

from __future__ import annotations

import os
import socket
import ssl

import pytest

from . import farm as farms

HOSTS = 3
MIN_TESTS = 30


@pytest.fixture(scope="module")
def farm():
    """Three hosts; at teardown nothing of them may be left (farm.tear_down checks)."""
    with farms.farm(HOSTS) as f:
        yield f


@pytest.fixture(scope="module")
def spread(farm) -> farms.SuiteRun:
    return farms.run_suite(farm.env(), HOSTS)


@pytest.fixture(scope="module")
def single(farm, spread) -> farms.SuiteRun:
    return farms.run_suite(farm.env(1), 1)


def test_each_host_is_a_network_namespace_of_its_own(farm):
    ours = os.readlink("/proc/self/ns/net")
    nets = {os.readlink(f"/proc/{h.proc.pid}/ns/net") for h in farm.hosts}
    assert len(nets) == HOSTS and ours not in nets
    # Its network only: its mounts are the host's (nsenter --net, not ip netns exec).
    assert {os.readlink(f"/proc/{h.proc.pid}/ns/mnt") for h in farm.hosts} == {os.readlink("/proc/self/ns/mnt")}


def ping_over_tls(farm, host, with_certificate: bool) -> bytes:
    """What GET /_ping gets on the host's TLS port ("" when the server hangs up)."""
    context = ssl.create_default_context(cafile=os.path.join(farm.client_certs, "ca.pem"))
    if with_certificate:
        context.load_cert_chain(os.path.join(farm.client_certs, "cert.pem"),
                                os.path.join(farm.client_certs, "key.pem"))
    with socket.create_connection((host.address, farms.PORT), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=host.address) as tls:
            tls.sendall(b"GET /_ping HTTP/1.1\r\nHost: farm\r\nConnection: close\r\n\r\n")
            return tls.recv(1024)


def test_only_clients_with_the_farm_certificate_are_served(farm):
    for host in farm.hosts:
        assert ping_over_tls(farm, host, with_certificate=True).startswith(b"HTTP/1.1 200")
        # TLS 1.3 says no after the client's side of the handshake: at its first read.
        try:
            answer = ping_over_tls(farm, host, with_certificate=False)
        except (ssl.SSLError, ConnectionError):
            answer = b""
        assert answer == b"", answer


def test_the_suite_passes_spread_over_three_hosts(spread):
    assert spread.returncode == 0, spread.output[-5000:]
    assert len(spread.outcomes) >= MIN_TESTS, spread.output[-2000:]
    assert set(spread.outcomes.values()) == {"passed"}, spread.outcomes


def test_each_worker_ran_on_a_host_of_its_own(farm, spread):
    assert set(spread.hosts) == set(spread.outcomes)
    assert set(spread.hosts.values()) == {h.url for h in farm.hosts}, spread.hosts


def test_one_host_gives_the_same_results(farm, spread, single):
    assert single.returncode == 0, single.output[-5000:]
    assert single.outcomes == spread.outcomes
    assert set(single.hosts.values()) == {farm.hosts[0].url}


def test_no_host_keeps_a_container(farm, spread, single):
    assert {h.name: farm.containers(h) for h in farm.hosts} == {h.name: [] for h in farm.hosts}
