"""The networks API through docker-py on the started daemon, as its api_network_test.py and
models_networks_test.py use it: create with IPAM, inspect, list filters, Docker's errors,
connect and disconnect of a running container (with traffic to the new interface), remove
and prune. Traffic only to containers' addresses on the daemon's own bridges."""

from __future__ import annotations

import ipaddress
import os
import re

import docker
import pytest
from docker.types import IPAMConfig, IPAMPool

from services.kernel import firewall, links

from ..polling import until

from .networking import (  # noqa: F401 (fixtures)
    endpoint, first_address, free_port, handles, http_get, made, mark, standin, unique, veth)

PREDEFINED = {"bridge", "host", "none"}


def subnet_of(daemon, third: int) -> ipaddress.IPv4Network:
    """The /24 `third` of the daemon's own block: its networks never meet another's."""
    block = daemon.network_block()
    return ipaddress.ip_network(f"{block.network_address + third * 256}/24")


def ipam(subnet, **pool) -> IPAMConfig:
    return IPAMConfig(pool_configs=[IPAMPool(subnet=str(subnet), **pool)])


def status_of(call) -> int:
    with pytest.raises(docker.errors.APIError) as failed:
        call()
    return failed.value.status_code


# ------------------------------------------------------------------ create and inspect


def test_create_with_ipam_and_inspect(client, daemon, made):
    subnet = subnet_of(daemon, 200)
    gateway, ip_range, aux = subnet[254], f"{subnet[128]}/25", {"reserved": str(subnet[129])}
    label, link = unique("dyk.test."), unique("dyk")
    net = made.network(ipam=ipam(subnet, gateway=str(gateway), iprange=ip_range, aux_addresses=aux),
                       labels={label: "ipam"}, attachable=True,
                       options={"com.docker.network.bridge.name": link})
    net.reload()
    attrs = net.attrs
    assert attrs["Driver"] == "bridge" and attrs["Scope"] == "local"
    assert attrs["IPAM"]["Driver"] == "default"
    assert attrs["IPAM"]["Config"] == [{"Subnet": str(subnet), "Gateway": str(gateway), "IPRange": ip_range,
                                        "AuxiliaryAddresses": aux}]
    assert attrs["Labels"] == {label: "ipam"}
    assert attrs["Options"] == {"com.docker.network.bridge.name": link}
    assert (attrs["Internal"], attrs["Attachable"], attrs["EnableIPv6"]) == (False, True, False)
    assert attrs["Containers"] == {}
    # Its bridge, under the name asked for, marked as this daemon's, with the gateway.
    assert link in links.owned(mark(daemon))
    assert links.host_networks().count(f"{gateway}/24") == 1

    web = made.httpd("ipam", net.name)
    ep = endpoint(web, net.name)
    address = ipaddress.ip_address(ep["IPAddress"])
    assert address in ipaddress.ip_network(ip_range) and str(address) != aux["reserved"]
    assert ep["Gateway"] == str(gateway) and ep["IPPrefixLen"] == 24
    net.reload()
    assert net.attrs["Containers"] == {web.id: {
        "Name": web.name, "EndpointID": ep["EndpointID"], "MacAddress": ep["MacAddress"],
        "IPv4Address": f"{address}/24", "IPv6Address": ""}}
    assert [c.id for c in net.containers] == [web.id]
    code, out = made.run(["ip", "route"], network=net.name)
    assert code == 0 and f"default via {gateway} dev eth0" in out, out

    # Removed, its bridge goes.
    web.remove(force=True)
    net.remove()
    assert not links.exists(link)
    assert link not in firewall.listing(daemon.bridge)


def test_an_internal_network_has_no_way_out(client, daemon, made):
    net = made.network(internal=True)
    net.reload()
    assert net.attrs["Internal"] is True
    web = made.httpd("inside", net.name)
    assert endpoint(web, net.name)["Gateway"] == ""
    # Its members reach each other, but have no route out.
    code, out = made.run(["sh", "-c", "wget -qO- http://%s/; ip route" % first_address(web)], network=net.name)
    assert code == 0 and out.startswith("inside\n") and "default" not in out, out


# ------------------------------------------------------------------ list


def test_list_filters(client, daemon, made):
    label = unique("dyk.list.")
    used = made.network(labels={label: "used"})
    idle = made.network(labels={label: "idle"})
    made.start(["sleep", "60"], network=used.name)

    def listed(**filters) -> set[str]:
        return {n["Name"] for n in client.api.networks(filters=filters)}

    assert listed(name=[idle.name]) == {idle.name}
    assert listed(name=[idle.name[:-2]]) >= {idle.name}   # a part of the name matches
    assert listed(id=[idle.id[:12]]) == {idle.name}
    assert {n.name for n in client.networks.list(ids=[used.id])} == {used.name}
    by_bridge = listed(driver=["bridge"])
    assert {"bridge", used.name, idle.name} <= by_bridge and not {"host", "none"} & by_bridge
    assert listed(driver=["host"]) == {"host"} and listed(driver=["null"]) == {"none"}
    assert listed(label=[label]) == {used.name, idle.name}
    assert listed(label=[f"{label}=idle"]) == {idle.name}
    assert listed(type=["builtin"]) == PREDEFINED
    custom = listed(type=["custom"])
    assert {used.name, idle.name} <= custom and not PREDEFINED & custom
    dangling = listed(dangling=["true"])
    assert idle.name in dangling and used.name not in dangling and not PREDEFINED & dangling
    in_use = listed(dangling=["false"])
    assert used.name in in_use and idle.name not in in_use and PREDEFINED <= in_use
    assert listed(label=[label], dangling=["1"]) == {idle.name}
    assert status_of(lambda: client.api.networks(filters={"type": ["nosuch"]})) == 400
    assert status_of(lambda: client.api.networks(filters={"dangling": ["maybe"]})) == 400
    # The list shows the running container under its network, as inspect does.
    assert len(client.networks.get(used.id).attrs["Containers"]) == 1


# ------------------------------------------------------------------ Docker's errors


def test_dockers_errors(client, daemon, made):
    subnet = subnet_of(daemon, 202)
    net = made.network(ipam=ipam(subnet))
    # A name in use.
    assert status_of(lambda: made.network(net.name)) == 409
    assert status_of(lambda: made.network(net.name, check_duplicate=True)) == 409
    # An overlapping subnet: another network's, a part of it, the default bridge's.
    assert status_of(lambda: made.network(ipam=ipam(subnet))) == 403
    assert status_of(lambda: made.network(ipam=ipam(f"{subnet[128]}/25"))) == 403
    default = client.networks.get("bridge").attrs["IPAM"]["Config"][0]["Subnet"]
    assert status_of(lambda: made.network(ipam=ipam(default))) == 403
    # The host and null drivers: one instance of each.
    assert status_of(lambda: made.network(driver="host")) == 403
    assert status_of(lambda: made.network(driver="null")) == 403
    # The predefined networks stay.
    for name in PREDEFINED:
        assert status_of(client.networks.get(name).remove) == 403, name
    assert status_of(lambda: client.networks.get("nosuchnetwork")) == 404
    # In use by a running container: 409; once it stopped, it goes.
    ctr = made.start(["sleep", "60"], network=net.name)
    assert status_of(net.remove) == 409
    ctr.stop(timeout=0)
    net.remove()
    assert status_of(lambda: client.networks.get(net.id)) == 404
    # Its subnet is free again.
    made.network(ipam=ipam(subnet))


# ------------------------------------------------------------------ connect and disconnect


def test_connect_and_disconnect_a_running_container(client, daemon, made):
    subnet = subnet_of(daemon, 201)
    net = made.network(ipam=ipam(subnet))
    web = made.httpd("connected")   # on the default bridge
    on_bridge = first_address(web)
    handle = web.attrs["NetworkSettings"]["SandboxKey"]
    assert os.path.basename(handle) in handles(daemon)
    fixed = str(subnet[77])

    net.connect(web, aliases=["late"], ipv4_address=fixed)
    web.reload()
    ep = endpoint(web, net.name)
    assert ep["IPAddress"] == fixed and ep["IPAMConfig"]["IPv4Address"] == fixed
    assert ep["Aliases"] == ["late"] and ep["NetworkID"] == net.id and ep["EndpointID"]
    assert set(web.attrs["NetworkSettings"]["Networks"]) == {"bridge", net.name}
    # A new interface in its namespace, with that address, reached from another container
    # by address, alias and name, and from the host.
    assert links.addresses(handle, "eth1") == [f"{fixed}/24"]
    assert links.exists(veth(ep))
    for host in (fixed, "late", web.name):
        assert made.run(["wget", "-qO-", f"http://{host}/"], network=net.name) == (0, "connected\n"), host
    assert http_get(fixed) == "connected\n"
    net.reload()
    assert list(net.attrs["Containers"]) == [web.id]
    # The same address again is refused.
    other = made.start(["sleep", "60"])
    assert status_of(lambda: net.connect(other, ipv4_address=fixed)) == 409
    # Connected twice: refused.
    assert status_of(lambda: net.connect(web)) == 403

    net.disconnect(web)
    web.reload()
    assert set(web.attrs["NetworkSettings"]["Networks"]) == {"bridge"}
    assert links.addresses(handle, "eth1") == []
    assert not links.exists(veth(ep))
    net.reload()
    assert net.attrs["Containers"] == {}
    code, out = made.run(["sh", "-c", f"timeout 3 wget -qO- http://{fixed}/; echo exit=$?; nslookup late"],
                         network=net.name)
    assert "exit=0" not in out and "connected" not in out and "can't find late" in out, out
    # Still on the default bridge, as before.
    assert http_get(on_bridge) == "connected\n"
    assert status_of(lambda: net.disconnect(web)) == 403
    # Its address is free again.
    net.connect(other, ipv4_address=fixed)
    other.reload()
    assert endpoint(other, net.name)["IPAddress"] == fixed
    # The veth a connect makes is marked as the daemon's (its sweeps and the leak check see it).
    assert veth(endpoint(other, net.name)) in links.owned(mark(daemon))


def test_a_container_connected_before_its_start_joins_every_network(client, daemon, made):
    first, second = made.network(), made.network()
    web = made.create(["sh", "-c", 'mkdir /www && echo two > /www/index.html && exec httpd -f -p 80 -h /www'],
                      network=first.name)
    second.connect(web, aliases=["second-alias"])
    web.start()
    web.reload()
    assert set(web.attrs["NetworkSettings"]["Networks"]) == {first.name, second.name}
    handle = web.attrs["NetworkSettings"]["SandboxKey"]
    for ifname, net in (("eth0", first), ("eth1", second)):
        assert links.addresses(handle, ifname) == [f"{endpoint(web, net.name)['IPAddress']}/24"], ifname
    second_address = endpoint(web, second.name)["IPAddress"]
    until(lambda: http_get(second_address) == "two\n", 20, "httpd to answer on its second network")
    assert made.run(["wget", "-qO-", "http://second-alias/"], network=second.name) == (0, "two\n")
    code, out = made.run(["nslookup", "second-alias"], network=first.name)
    assert code != 0 and second_address not in out, out
    # Its default route is the first network's gateway, the only one.
    code, out = made.run(["ip", "route"], network_mode=f"container:{web.id}", dns=None)
    gateways = [line for line in out.splitlines() if line.startswith("default")]
    wanted = ["default", "via", endpoint(web, first.name)["Gateway"], "dev", "eth0"]
    assert code == 0 and [g.split() for g in gateways] == [wanted], out


# ------------------------------------------------------------------ names and files


def test_hosts_resolv_conf_links_and_mac_as_docker_writes_them(client, daemon, made):
    target = made.start(["sleep", "60"], name=unique("target"), environment={"ROLE": "db"})
    target_address = endpoint(target, "bridge")["IPAddress"]
    gateway = daemon.network_block().network_address + 1
    mac = "02:42:aa:bb:cc:dd"
    linker = unique("linker")
    code, out = made.run(
        ["sh", "-c", "cat /etc/hosts; echo ---; cat /etc/resolv.conf; echo ---; env; echo ---; hostname; "
                     "cat /proc/sys/kernel/domainname; ip -4 -o addr show eth0; ip link show eth0"],
        name=linker, hostname="box", domainname="example.test", mac_address=mac,
        extra_hosts={"gw": "host-gateway", "static": "192.0.2.9"}, links={target.name: "tgt"},
        dns=["127.0.0.1"], dns_search=["search.test"], dns_opt=["timeout:1"])
    assert code == 0, out
    hosts, resolv, env, rest = out.split("---\n")
    own = re.search(r"inet (\S+)/", rest).group(1)
    lines = hosts.splitlines()
    assert lines[0] == "127.0.0.1\tlocalhost"
    assert f"{gateway}\tgw" in lines and "192.0.2.9\tstatic" in lines
    resolv_lines = resolv.splitlines()
    assert "nameserver 127.0.0.1" in resolv_lines and "search search.test" in resolv_lines
    assert "options timeout:1" in resolv_lines, resolv
    assert f"TGT_NAME=/{linker}/tgt" in env.splitlines() and "TGT_ENV_ROLE=db" in env.splitlines(), env
    assert rest.splitlines()[:2] == ["box", "example.test"], rest
    assert f"link/ether {mac} " in rest, rest
    assert endpoint(target, "bridge")["MacAddress"] != mac
    # Docker's hosts lines (moby's buildSandboxOptions, Sandbox.makeHostsRecs): a link's alias,
    # the target's hostname and its name; the container's own FQDN, then its bare hostname.
    assert f"{target_address}\ttgt {target.attrs['Config']['Hostname']} {target.name}" in lines, hosts
    assert f"{own}\tbox.example.test box" in lines, hosts


# ------------------------------------------------------------------ prune


def test_prune_removes_unused_networks_only(client, daemon, made):
    label = unique("dyk.prune.")
    unused = made.network(labels={label: "1"})
    used = made.network(labels={label: "1"})
    unlabelled = made.network()
    made.start(["sleep", "60"], network=used.name)
    bridge = "dy-" + unused.id[:12]
    assert links.exists(bridge)

    pruned = client.networks.prune(filters={"label": label})
    assert pruned == {"NetworksDeleted": [unused.name]}
    assert not links.exists(bridge)
    remaining = {n.name for n in client.networks.list()}
    assert used.name in remaining and unlabelled.name in remaining and unused.name not in remaining
    assert PREDEFINED <= remaining
    # Nothing more to prune under that label.
    assert client.networks.prune(filters={"label": label})["NetworksDeleted"] is None
    assert client.networks.prune(filters={"label": f"{label}=2"})["NetworksDeleted"] is None


def test_an_ipv6_network_gives_each_endpoint_an_ipv6_address_too(client, daemon, made):
    # A unique local prefix of this daemon's own (from its block), never one of the host's.
    block = daemon.network_block().network_address.packed[1]
    prefix = f"fd7e:d0c:{block:x}::"
    with pytest.raises(docker.errors.APIError) as refused:
        made.network(enable_ipv6=True)   # there is no default IPv6 pool: a subnet must be given
    assert refused.value.status_code == 400
    net = made.network(enable_ipv6=True, ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=f"{prefix}/64")]))
    net.reload()
    assert net.attrs["EnableIPv6"] is True
    configs = net.attrs["IPAM"]["Config"]
    assert [ipaddress.ip_network(c["Subnet"]).version for c in configs] == [4, 6]   # IPv4 always, as Docker
    assert configs[1] == {"Subnet": f"{prefix}/64", "Gateway": f"{prefix}1"}
    web = made.httpd("six", network=net.name,
                     networking_config={net.name: client.api.create_endpoint_config(ipv6_address=f"{prefix}f00d")})
    ep = endpoint(web, net.name)
    assert ep["GlobalIPv6Address"] == f"{prefix}f00d" and ep["GlobalIPv6PrefixLen"] == 64
    assert ep["IPv6Gateway"] == f"{prefix}1" and ep["IPAMConfig"]["IPv6Address"] == f"{prefix}f00d"
    net.reload()
    assert net.attrs["Containers"][web.id]["IPv6Address"] == f"{prefix}f00d/64"
    code, out = made.run(["sh", "-c", f"ip -6 addr show eth0; timeout 5 wget -qO- http://[{prefix}f00d]/; "
                                      f"nslookup -type=aaaa {web.name}"], network=net.name)
    assert code == 0 and "six" in out and f"{prefix}2/64" in out, out
    assert f"{prefix}f00d" in out.split("Server:", 1)[-1], out   # the embedded DNS answers AAAA
    # The same fixed address twice is refused, as for IPv4.
    with pytest.raises(docker.errors.APIError) as taken:
        made.start(["sleep", "30"], network=net.name,
                   networking_config={net.name: client.api.create_endpoint_config(ipv6_address=f"{prefix}f00d")})
    assert taken.value.status_code == 409


def test_a_connected_default_bridge_container_resolves_names_and_its_ports_follow_it(client, daemon, made):
    first, second = made.network(), made.network()
    peer = made.httpd("peer", network=first.name, name=unique("peer"))
    port = free_port()
    # On the default bridge at its start: no user-defined network, no names yet.
    web = made.httpd("moved", ports={"80/tcp": ("127.0.0.1", port)})
    handle = web.attrs["NetworkSettings"]["SandboxKey"]
    first.connect(web)
    # Its DNS is the embedded resolver now, and it answers (its shim was ready for it),
    # asked from its own namespace (container: mode shares its files and its resolver).
    with open(web.attrs["ResolvConfPath"]) as fh:
        assert "nameserver 127.0.0.11" in fh.read()
    code, out = made.run(["nslookup", peer.name], network_mode=f"container:{web.id}")
    assert code == 0 and first_address(peer) in out, out

    # Leaving the default bridge: the published port follows it to its next network, and
    # so does its way out (the default route).
    client.networks.get("bridge").disconnect(web)
    web.reload()
    assert set(web.attrs["NetworkSettings"]["Networks"]) == {first.name}
    until(lambda: http_get("127.0.0.1", port) == "moved\n", 10, "the published port to follow the container")
    code, out = made.run(["ip", "route"], network_mode=f"container:{web.id}")
    assert f"default via {endpoint(web, first.name)['Gateway']}" in out, out
    # A connect after a disconnect takes a free interface name (eth0 went with the bridge).
    second.connect(web)
    web.reload()
    assert links.addresses(handle, "eth0") == [f"{endpoint(web, second.name)['IPAddress']}/24"]
