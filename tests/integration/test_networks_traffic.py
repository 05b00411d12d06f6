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

import ipaddress
import re
import socket

import docker
import pytest

from services.kernel import firewall, links, netns

from ..polling import until
from .networking import (  # noqa: F401 (fixtures among them)
    BUSYBOX, HTTPD, StandIn, addresses_in, endpoint, first_address, free_port, handles, http_get,
    made, mark, refused, refused_bind, standin, unique, veth,
)

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
    # (Not as the container's first process: busybox timeout's TERM to pid 1 would be lost.)
    code, out = made.run(["sh", "-c", f"timeout 3 wget -qO- http://{first_address(hidden)}/; echo exit=$?"],
                         network=front.name)
    assert code == 0 and "hidden" not in out and "exit=0" not in out, out

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
    """Forwarded from the host's namespace: to the stand-in on a loopback address of the host's."""
    net = made.network()
    code, out = made.run(["nslookup", StandIn.NAME], network=net.name, dns=standin.servers)
    assert code == 0 and StandIn.ADDRESS in out, out
    assert StandIn.NAME in standin.asked
    code, out = made.run(["cat", "/etc/resolv.conf"], network=net.name, dns=standin.servers)
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
    with open(f"/sys/class/net/{veth(ep)}/master/uevent") as fh:
        assert f"INTERFACE={daemon.bridge}" in fh.read()
    # Marked as the daemon's: its sweeps and the leak check know it by that.
    assert veth(ep) in links.owned(mark(daemon))


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
    assert refused_bind(port)   # held for the container: no program of the host can take it

    web.stop(timeout=1)
    until(lambda: refused(port), 10, f"127.0.0.1:{port} to refuse once the container stopped")
    assert not refused_bind(port)   # let go with the container
    table = firewall.listing(daemon.bridge)
    assert f"dport {port} " not in table and first_address(web) not in table, table
    web.reload()
    assert web.attrs["NetworkSettings"]["Ports"] == {}
    # Started again, it answers again on the same port.
    web.start()
    until(lambda: http_get("127.0.0.1", port) == "published\n", 20, "the port to answer after a restart")


def test_a_published_port_answers_containers_of_its_bridge_and_of_other_networks(client, daemon, made):
    """Through a host address (the default bridge's gateway), as Docker's published ports do."""
    port = free_port()
    made.httpd("hairpin", ports={"80/tcp": port})
    gateway = str(daemon.network_block().network_address + 1)
    fetch = ["sh", "-c", f"timeout 5 wget -qO- http://{gateway}:{port}/; echo exit=$?"]
    code, out = made.run(fetch)   # on the same bridge: the answer must come back through the host
    assert code == 0 and "hairpin" in out and "exit=0" in out, out
    other = made.network()
    code, out = made.run(fetch, network=other.name)
    assert code == 0 and "hairpin" in out and "exit=0" in out, out
    internal = made.network(internal=True)
    code, out = made.run(["sh", "-c", f"timeout 5 wget -qO- http://{gateway}:{port}/; echo exit=$?"],
                         network=internal.name)
    assert "hairpin" not in out, out   # an internal network has no way out, not even to a published port


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


def test_a_port_range_takes_its_first_free_port(client, daemon, made):
    while True:   # two free ports side by side
        with socket.create_server(("127.0.0.1", 0)) as probe:
            low = probe.getsockname()[1]
        if low < 65535 and not refused_bind(low) and not refused_bind(low + 1):
            break
    with socket.create_server(("127.0.0.1", low)) as taken:
        web = made.httpd("ranged", ports={"80/tcp": ("127.0.0.1", f"{low}-{low + 1}")})
        assert web.attrs["NetworkSettings"]["Ports"]["80/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(low + 1)}]
        assert http_get("127.0.0.1", low + 1) == "ranged\n"
        with socket.create_connection(("127.0.0.1", low), timeout=5):
            taken.accept()[0].close()   # the test's own listener still gets its port's connections


def test_a_published_udp_port_forwards_datagrams_both_ways(client, daemon, made):
    port = free_port()
    ctr = made.start(["sleep", "60"], ports={"5353/udp": ("127.0.0.1", port)})
    address = first_address(ctr)
    # A server in the container's namespace, on its address: the test's own socket there.
    inside = netns.run_in(ctr.attrs["NetworkSettings"]["SandboxKey"],
                          lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    with inside, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as outside:
        inside.bind((address, 5353))
        inside.settimeout(5)
        outside.settimeout(5)
        outside.sendto(b"over udp", ("127.0.0.1", port))
        data, peer = inside.recvfrom(64)
        assert data == b"over udp"
        inside.sendto(b"and back", peer)
        assert outside.recvfrom(64) == (b"and back", ("127.0.0.1", port))
