"""Networking on the started daemon, with traffic: containers on a user-defined network
reaching each other by name, alias and short id through the embedded DNS; published ports
answering from the host; the default bridge's interface; published ports and DNS going on
while the api and the supervisor are killed and dockyardd restarts; nothing left of removed
containers and networks; a crash's leftovers swept at the supervisor's start.

Traffic goes only to 127.0.0.1 and to containers' addresses on the daemon's own bridges.
Every container on a user-defined network is given Dns 127.0.0.1 (a stand-in resolver the
module runs there): names the embedded resolver does not know are forwarded from the host's
namespace, so never to the host's real resolvers.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import re
import signal
import socket
import subprocess
import threading
import time
import uuid

import docker
import pytest
from dnslib import QTYPE, RCODE, RR, A, DNSRecord
from pyroute2 import IPRoute

from services.kernel import firewall, links, netns

from ..polling import until
from .containers import ensure_busybox

BUSYBOX = "busybox:latest"
HTTPD = ["sh", "-c", 'mkdir -p /www && echo "$BODY" > /www/index.html && exec httpd -f -p 80 -h /www']
IPV4 = re.compile(r"\b(\d{1,3}(?:\.\d{1,3}){3})\b")


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


# ------------------------------------------------------------------ the stand-in resolver


class StandIn:
    """A DNS server on the host's 127.0.0.1:53 (another port if 53 is taken): `NAME` is
    `ADDRESS` (never contacted), every other name NXDOMAIN. What it was asked is kept."""

    NAME = "standin.dyktest"
    ADDRESS = "192.0.2.53"

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind(("127.0.0.1", 53))
        except OSError:
            self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.2)
        self.asked: list[str] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    @property
    def on_53(self) -> bool:
        return self.port == 53

    @property
    def servers(self) -> list[str]:
        """What a container's Dns names it by."""
        return ["127.0.0.1"] if self.on_53 else [f"127.0.0.1:{self.port}"]

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


def test_containers_on_a_network_reach_each_other_by_name_alias_and_short_id(client, daemon, made, standin):
    front, back = made.network(), made.network()
    web = made.httpd("web", front.name, name="web",
                     networking_config={front.name: client.api.create_endpoint_config(aliases=["site"])})
    pooled = [made.httpd(f"pool{n}", front.name,
                         networking_config={front.name: client.api.create_endpoint_config(aliases=["pool"])})
              for n in (1, 2)]
    hidden = made.httpd("hidden", back.name, name=unique("hidden"))

    # By name, by alias, by short id.
    for host in ("web", "site", web.id[:12]):
        assert made.run(["wget", "-qO-", f"http://{host}/"], network=front.name) == (0, "web\n"), host
    # Every container under one alias answers.
    code, out = made.run(["nslookup", "pool"], network=front.name)
    assert code == 0 and addresses_in(out) == {first_address(c) for c in pooled}, out
    code, out = made.run(["wget", "-qO-", "http://pool/"], network=front.name)
    assert code == 0 and out in ("pool1\n", "pool2\n"), out
    # A name of another network does not resolve (the stand-in, asked in its stead, does not
    # know it either), nor is its address reachable across the networks.
    code, out = made.run(["nslookup", hidden.name], network=front.name)
    assert code != 0 and first_address(hidden) not in out, out
    code, out = made.run(["wget", "-T", "2", "-qO-", f"http://{first_address(hidden)}/"], network=front.name)
    assert code != 0 and "hidden" not in out, out

    # Its endpoint, as Docker shows it.
    ep = endpoint(web, front.name)
    front.reload()
    config = front.attrs["IPAM"]["Config"][0]
    assert ipaddress.ip_address(ep["IPAddress"]) in ipaddress.ip_network(config["Subnet"])
    assert ipaddress.ip_network(config["Subnet"]).subnet_of(daemon.network_block())
    assert ep["IPPrefixLen"] == ipaddress.ip_network(config["Subnet"]).prefixlen
    assert ep["Gateway"] == config["Gateway"]
    assert ep["MacAddress"] == "02:42:" + ":".join(f"{int(b):02x}" for b in ep["IPAddress"].split("."))
    assert ep["NetworkID"] == front.id
    assert re.fullmatch(r"[0-9a-f]{64}", ep["EndpointID"])
    assert ep["Aliases"] == ["site"]
    assert ep["DNSNames"][:3] == ["web", "site", web.id[:12]]
    assert front.attrs["Containers"][web.id]["IPv4Address"] == f"{ep['IPAddress']}/{ep['IPPrefixLen']}"


def test_names_the_embedded_resolver_does_not_know_go_to_the_containers_dns(client, made, standin):
    """Forwarded from the host's namespace: to the stand-in on the host's 127.0.0.1:53."""
    if not standin.on_53:
        pytest.skip("127.0.0.1:53 is taken on this host: no stand-in resolver there to forward to")
    net = made.network()
    code, out = made.run(["nslookup", StandIn.NAME], network=net.name, dns=["127.0.0.1"])
    assert code == 0 and StandIn.ADDRESS in out, out
    assert StandIn.NAME in standin.asked
    code, out = made.run(["cat", "/etc/resolv.conf"], network=net.name, dns=["127.0.0.1"])
    assert code == 0 and "nameserver 127.0.0.11\n" in out and "options ndots:0" in out, out


def test_default_bridge_gives_eth0_an_address_of_the_daemons_block_and_a_default_route(client, daemon, made):
    code, out = made.run(["sh", "-c", "ip -4 -o addr show eth0; ip route"])
    assert code == 0, out
    address = ipaddress.ip_interface(re.search(r"inet (\S+)", out).group(1))
    gateway = daemon.network_block().network_address + 1
    assert address.network == ipaddress.ip_network(f"{gateway}/24", strict=False) and address.ip != gateway
    assert f"default via {gateway} dev eth0" in out, out
    # And the host reaches a server there at its address, on the daemon's bridge.
    web = made.httpd("default-bridge")
    ep = endpoint(web, "bridge")
    assert web.attrs["NetworkSettings"]["IPAddress"] == ep["IPAddress"]
    assert web.attrs["NetworkSettings"]["Gateway"] == str(gateway)
    assert veth(ep) in links.owned(mark(daemon))
    with open(f"/sys/class/net/{veth(ep)}/master/uevent") as fh:
        assert f"INTERFACE={daemon.bridge}" in fh.read()


def test_container_mode_reaches_the_other_containers_server_on_its_loopback(client, made):
    net = made.network()
    web = made.httpd("shared", net.name)
    code, out = made.run(["sh", "-c", "wget -qO- http://127.0.0.1/; ip -4 -o addr show eth0"],
                         network_mode=f"container:{web.id}", dns=None)
    assert code == 0 and out.startswith("shared\n") and f"inet {first_address(web)}/" in out, out


def test_host_mode_sees_the_daemons_bridge(client, daemon, made):
    code, out = made.run(["cat", "/proc/net/dev"], network_mode="host", dns=None)
    assert code == 0 and daemon.bridge in {line.split(":")[0].strip() for line in out.splitlines()[2:]}, out


# ------------------------------------------------------------------ published ports


def test_a_published_port_answers_from_the_host_and_goes_with_the_container(client, daemon, made):
    port = free_port()
    web = made.httpd("published", ports={"80/tcp": ("127.0.0.1", port)})
    assert http_get("127.0.0.1", port) == "published\n"
    assert web.attrs["NetworkSettings"]["Ports"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    assert client.api.port(web.id, 80) == [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
    listed = client.api.containers(filters={"id": web.id})[0]["Ports"]
    assert listed == [{"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": port, "Type": "tcp"}]
    assert f"dport {port} " in firewall.listing(daemon.bridge)

    web.stop(timeout=1)
    until(lambda: refused(port), 10, f"127.0.0.1:{port} to refuse once the container stopped")
    table = firewall.listing(daemon.bridge)
    assert f"dport {port} " not in table and first_address(web) not in table, table
    web.reload()
    assert web.attrs["NetworkSettings"]["Ports"] == {}
    # Started again, it answers again on the same port.
    web.start()
    until(lambda: http_get("127.0.0.1", port) == "published\n", 20, "the port to answer after a restart")


def test_chosen_host_ports_answer_and_are_shown(client, daemon, made):
    # -p 80: a free host port chosen.
    web = made.httpd("chosen", ports={"80/tcp": None})
    bindings = web.attrs["NetworkSettings"]["Ports"]["80/tcp"]
    assert len(bindings) == 1 and bindings[0]["HostIp"] == "0.0.0.0" and int(bindings[0]["HostPort"]) > 0
    chosen = int(bindings[0]["HostPort"])
    assert http_get("127.0.0.1", chosen) == "chosen\n"
    listed = client.api.containers(filters={"id": web.id})[0]["Ports"]
    assert listed == [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": chosen, "Type": "tcp"}]

    # -P: every exposed port, on chosen host ports.
    created = client.api.create_container(BUSYBOX, HTTPD, ports=[80, (53, "udp")], environment={"BODY": "all"},
                                          host_config=client.api.create_host_config(publish_all_ports=True))
    every = client.containers.get(created["Id"])
    made.containers.append(every)
    every.start()
    every.reload()
    ports = every.attrs["NetworkSettings"]["Ports"]
    assert set(ports) == {"80/tcp", "53/udp"} and all(len(b) == 1 for b in ports.values()), ports
    published = int(ports["80/tcp"][0]["HostPort"])
    assert published not in (0, chosen)
    until(lambda: http_get("127.0.0.1", published) == "all\n", 20, "the -P port to answer")
    assert {(p["PrivatePort"], p["Type"]) for p in client.api.containers(filters={"id": every.id})[0]["Ports"]} \
        == {(80, "tcp"), (53, "udp")}


def test_a_host_port_in_use_fails_the_start(client, daemon, made):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        ctr = made.create(HTTPD, environment={"BODY": "never"}, ports={"80/tcp": ("127.0.0.1", port)})
        with pytest.raises(docker.errors.APIError) as failed:
            ctr.start()
        assert failed.value.status_code == 409, failed.value
        assert f"127.0.0.1:{port}" in str(failed.value) and "already allocated" in str(failed.value)
        ctr.reload()
        assert ctr.status != "running" and not ctr.attrs["State"]["Running"]
        assert not any((ctr.attrs["NetworkSettings"]["Ports"] or {}).values())
        # Nothing of it stays wired: no rule, no handle, no veth.
        assert f"dport {port} " not in firewall.listing(daemon.bridge)
        assert ctr.id[:12] not in handles(daemon)
        # The listener is the test's own still: it gets the connection.
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            conn, _ = taken.accept()
            conn.close()


# ------------------------------------------------------------------ durable


class Poller:
    """GETs 127.0.0.1:port over and over in a thread; the failures it saw."""

    def __init__(self, port: int, body: str):
        self.port, self.body = port, body
        self.failures: list[str] = []
        self.answers = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.poll, daemon=True)
        self.thread.start()

    def poll(self) -> None:
        while not self.stopped.wait(0.02):
            try:
                got = http_get("127.0.0.1", self.port, timeout=3)
                if got == self.body:
                    self.answers += 1
                else:
                    self.failures.append(repr(got))
            except (OSError, http.client.HTTPException, AssertionError) as exc:
                self.failures.append(repr(exc))

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=10)


def answers(daemon) -> bool:
    return daemon.get("/v1.45/containers/json", timeout=5).status == 200


PROBER = ["sh", "-c", "while true; do if wget -T 2 -qO- http://web/ >/dev/null 2>&1; then echo ok; "
                      "else echo FAIL; fi; usleep 100000; done"]


def test_ports_and_names_answer_through_kills_and_a_dockyardd_restart(fresh_daemon, standin):
    d = fresh_daemon.start()
    client = docker_client(d)
    m = Made(client, standin.servers)
    port = free_port()
    try:
        net = m.network()
        web = m.httpd("durable", net.name, name="web", ports={"80/tcp": ("127.0.0.1", port)})
        address, pid = first_address(web), web.attrs["State"]["Pid"]
        prober = m.start(PROBER, network=net.name)

        def logged() -> list[str]:
            return prober.logs().decode().split()

        until(lambda: "ok" in logged(), 20, "the prober to reach web by name")
        poller = Poller(port, "durable\n")
        try:
            for service in ("api", "supervisor"):
                old = d.pid(service)
                os.kill(old, signal.SIGKILL)
                seen = poller.answers
                until(lambda: poller.answers > seen + 5, 20, f"the port to answer with {service} killed")
                d.wait_new_pid(service, old)
                until(lambda: answers(d), 30, f"{service} to answer again")
            # A new client finds it by name with the supervisor and the api new.
            assert m.run(["wget", "-qO-", "http://web/"], network=net.name) == (0, "durable\n")

            # dockyardd stopped and started: the container ran on.
            oks = logged().count("ok")
            assert d.stop() == 0
            seen = poller.answers
            until(lambda: poller.answers > seen + 5, 20, "the port to answer with dockyardd stopped")
            until(lambda: logged().count("ok") > oks, 20, "the prober to go on with dockyardd stopped")
            d.start()
            web.reload()
            assert web.attrs["State"]["Running"] and web.attrs["State"]["Pid"] == pid
            assert first_address(web) == address
            assert web.attrs["NetworkSettings"]["Ports"]["80/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
            assert http_get(address) == "durable\n"
            seen = poller.answers
            until(lambda: poller.answers > seen + 5, 20, "the port to answer after dockyardd's start")
        finally:
            poller.stop()
        assert not poller.failures, poller.failures[:10]
        assert "FAIL" not in logged(), prober.logs().decode()

        # A new container gets an address of its own, and finds web by name.
        prober.reload()
        newcomer = m.start(["sleep", "60"], network=net.name)
        assert first_address(newcomer) not in (address, first_address(prober))
        assert m.run(["wget", "-qO-", "http://web/"], network=net.name) == (0, "durable\n")
        # And on the default bridge, too.
        default = m.start(["sleep", "60"])
        other = m.start(["sleep", "60"])
        assert first_address(default) != first_address(other)
    finally:
        m.cleanup()
        client.close()


# ------------------------------------------------------------------ clean


def test_removing_containers_and_networks_leaves_nothing(client, daemon, made):
    port = free_port()
    net = made.network()
    bridge = "dy-" + net.id[:12]
    assert links.exists(bridge) and bridge in links.owned(mark(daemon))
    web = made.httpd("leak", net.name, ports={"80/tcp": ("127.0.0.1", port)})
    peer = made.start(["sleep", "60"], network=net.name, name=unique("peer"))
    plain = made.start(["sleep", "60"])
    ours = [web, peer, plain]
    veths = {veth(endpoint(c)) for c in ours}
    assert veths <= set(links.owned(mark(daemon)))
    assert {c.id[:12] for c in ours} <= handles(daemon)
    names_json = os.path.join(daemon.data_root, "containers", web.id, "names.json")
    assert peer.name in open(names_json).read()

    # A removed container's name goes from the others' names.
    peer.remove(force=True)
    until(lambda: peer.name not in open(names_json).read(), 10, "the removed peer's name to leave web's names")
    code, out = made.run(["nslookup", peer.name], network=net.name)
    assert code != 0, out

    web.remove(force=True)
    plain.remove(force=True)
    net.remove()
    until(lambda: not set(links.owned(mark(daemon))) & (veths | {bridge}), 10, "the veths and the bridge to go",
          detail=lambda: str(links.owned(mark(daemon))))
    assert not links.exists(bridge) and not any(links.exists(v) for v in veths)
    assert not {c.id[:12] for c in ours} & handles(daemon)
    table = firewall.listing(daemon.bridge)
    assert "dnat" not in table and bridge not in table, table
    # Nothing else of the daemon's is running here now: its default bridge alone is left.
    running = client.containers.list()
    if not running:
        assert links.owned(mark(daemon)) == [daemon.bridge]
        assert handles(daemon) == set()


# ------------------------------------------------------------------ crash leftovers


def test_the_supervisors_start_sweeps_what_a_crash_left(fresh_daemon, standin):
    d = fresh_daemon.start()
    client = docker_client(d)
    m = Made(client, standin.servers)
    stray = "dyv" + uuid.uuid4().hex[:11]
    try:
        web = m.httpd("kept")
        kept = veth(endpoint(web))
        # What a crash in the middle of a start leaves: a veth marked as this daemon's, a
        # namespace handle, a published port's rule.
        with IPRoute() as ipr:
            ipr.link("add", ifname=stray, kind="veth", peer=stray + "p")
            ipr.link("set", index=ipr.link_lookup(ifname=stray)[0], ifalias=mark(d))
        handle = netns.create(os.path.join(d.exec_root, "netns"), "deadbeef0000")
        stray_port = free_port()
        subprocess.run([firewall.NFT, "add", "rule", "ip", d.bridge, "ports", "tcp", "dport", str(stray_port),
                        "dnat", "to", f"{first_address(web)}:80"], check=True, capture_output=True)
        assert stray in links.owned(mark(d)) and f"dport {stray_port} " in firewall.listing(d.bridge)

        old = d.pid("supervisor")
        os.kill(old, signal.SIGKILL)
        d.wait_new_pid("supervisor", old)
        until(lambda: answers(d), 30, "the supervisor to answer again")
        until(lambda: not links.exists(stray), 10, "the stray veth to be removed")
        assert not links.exists(stray + "p")
        assert not os.path.exists(handle)
        assert f"dport {stray_port} " not in firewall.listing(d.bridge)
        # The running container's veth, handle and traffic are kept.
        assert kept in links.owned(mark(d))
        assert web.id[:12] in handles(d)
        assert http_get(first_address(web)) == "kept\n"
    finally:
        m.cleanup()
        client.close()
        links.remove(stray)
        netns.remove(os.path.join(d.exec_root, "netns", "deadbeef0000"))
