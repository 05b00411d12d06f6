"""What the networking tests share: a stand-in DNS resolver on 127.0.0.1:53 (names the
embedded resolver does not know go there, never to the host's real resolvers), what a test
made (containers and networks, removed at its end), and reading addresses, ports and the
daemon's links, namespace handles and firewall.
"""

from __future__ import annotations

import http.client
import os
import random
import re
import socket
import threading
import uuid

import docker
import pytest
from dnslib import QTYPE, RCODE, RR, A, DNSRecord


from ..polling import until
from .containers import ensure_busybox

BUSYBOX = "busybox:latest"
HTTPD = ["sh", "-c", 'mkdir -p /www && echo "$BODY" > /www/index.html && exec httpd -f -p 80 -h /www']
IPV4 = re.compile(r"\b(\d{1,3}(?:\.\d{1,3}){3})\b")


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


# ------------------------------------------------------------------ the stand-in resolver


class StandIn:
    """A DNS server on port 53 of a loopback address of its own (127.x.y.z: all of 127/8 is
    the host's loopback, so a free one is always found, whatever holds 127.0.0.1:53):
    `NAME` is `ADDRESS` (never contacted), every other name NXDOMAIN. What it was asked is
    kept."""

    NAME = "standin.dyktest"
    ADDRESS = "192.0.2.53"

    def __init__(self):
        for _ in range(50):
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            address = f"127.{random.randrange(1, 255)}.{random.randrange(0, 256)}.53"
            try:
                self.sock.bind((address, 53))
                break
            except OSError:
                self.sock.close()
        else:
            raise RuntimeError("no loopback address with port 53 free for the stand-in resolver")
        self.address = address
        self.sock.settimeout(0.2)
        self.asked: list[str] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    @property
    def servers(self) -> list[str]:
        """What a container's Dns names it by."""
        return [self.address]

    def serve(self) -> None:
        while not self.stopped.is_set():
            try:
                packet, peer = self.sock.recvfrom(65535)
            except (socket.timeout, OSError):
                continue
            try:
                request = DNSRecord.parse(packet)
            except Exception:  # noqa: BLE001 - not a query: nothing to answer
                continue
            name = str(request.q.qname).rstrip(".").lower()
            self.asked.append(name)
            reply = request.reply()
            if name == self.NAME and request.q.qtype == QTYPE.A:
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(self.ADDRESS), ttl=30))
            elif name != self.NAME:
                reply.header.rcode = RCODE.NXDOMAIN
            self.sock.sendto(reply.pack(), peer)

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture(scope="module")
def standin():
    server = StandIn()
    yield server
    server.close()


# ------------------------------------------------------------------ what a test makes


class Made:
    """The containers and networks a test makes through docker-py, all removed at its end."""

    def __init__(self, client: docker.DockerClient, dns: list[str]):
        self.client = client
        self.dns = dns
        self.containers: list = []
        self.networks: list = []

    def network(self, name: str | None = None, **kw):
        net = self.client.networks.create(name or unique("dynet"), **kw)
        self.networks.append(net)
        return net

    def create(self, cmd, **kw):
        kw.setdefault("dns", self.dns)
        ctr = self.client.containers.create(BUSYBOX, cmd, **kw)
        self.containers.append(ctr)
        return ctr

    def start(self, cmd, **kw):
        ctr = self.create(cmd, **kw)
        ctr.start()
        ctr.reload()
        return ctr

    def httpd(self, body: str, network: str | None = None, **kw):
        """A busybox httpd serving `body` on port 80, answering (from the host, at its
        address on its first network) when returned."""
        ctr = self.start(HTTPD, environment={"BODY": body}, network=network, **kw)
        address = first_address(ctr)
        until(lambda: http_get(address) == body + "\n", 20, f"httpd {ctr.name} to answer at {address}")
        return ctr

    def run(self, cmd, **kw) -> tuple[int, str]:
        """Run a container to its exit: its exit code and output; it is removed."""
        ctr = self.create(cmd, **kw)
        try:
            ctr.start()
            code = ctr.wait(timeout=60)["StatusCode"]
            return code, ctr.logs(stdout=True, stderr=True).decode()
        finally:
            ctr.remove(force=True)
            self.containers.remove(ctr)

    def cleanup(self) -> None:
        for ctr in reversed(self.containers):
            try:
                ctr.remove(force=True)
            except docker.errors.NotFound:
                pass
        for net in reversed(self.networks):
            try:
                net.remove()
            except docker.errors.NotFound:
                pass


@pytest.fixture
def made(client, standin):
    m = Made(client, standin.servers)
    yield m
    m.cleanup()


def docker_client(daemon) -> docker.DockerClient:
    ensure_busybox(daemon)
    return docker.DockerClient(base_url=daemon.unix_url, version="1.45")


# ------------------------------------------------------------------ looking at it


def endpoint(ctr, network: str | None = None) -> dict:
    nets = ctr.attrs["NetworkSettings"]["Networks"]
    return nets[network] if network else next(iter(nets.values()))


def first_address(ctr) -> str:
    return endpoint(ctr)["IPAddress"]


def http_get(host: str, port: int = 80, timeout: float = 5) -> str:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/")
        reply = conn.getresponse()
        assert reply.status == 200, reply.status
        return reply.read().decode()
    finally:
        conn.close()


def refused(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=5):
            return False
    except ConnectionRefusedError:
        return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def addresses_in(text: str) -> set[str]:
    """The IPv4 addresses busybox nslookup printed as answers (not its server's)."""
    return {a for a in IPV4.findall(text) if not a.startswith("127.")}


def veth(ep: dict) -> str:
    return "dyv" + ep["EndpointID"][:11]


def mark(daemon) -> str:
    return f"dockyard:{daemon.bridge}"


def handles(daemon) -> set[str]:
    directory = os.path.join(daemon.exec_root, "netns")
    return set(os.listdir(directory)) if os.path.isdir(directory) else set()


# ------------------------------------------------------------------ names and aliases

def refused_bind(port: int) -> bool:
    """Whether 127.0.0.1:port cannot be bound now."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False
