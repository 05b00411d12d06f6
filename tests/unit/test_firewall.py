"""The nftables script for Dockyard's networks: the rules render() writes, in order, and
the values it refuses rather than putting them into a script."""

import os
import shutil
import subprocess

import pytest

from services.kernel.firewall import Bridge, Forward, render

BRIDGES = [
    Bridge("dy-default", "10.214.0.0/24"),
    Bridge("dy.internal", "10.214.1.0/24", internal=True),
    Bridge("dy_nomasq", "10.214.2.0/24", masquerade=False),
]
FORWARDS = [
    Forward("tcp", "127.0.0.1", 8080, "10.214.0.2", 80, "dy-default"),
    Forward("udp", "", 5353, "10.214.0.3", 53, "dy-default"),
    Forward("tcp", "0.0.0.0", 2222, "10.214.2.4", 22, "dy_nomasq"),
]


def lines(script: str) -> list[str]:
    return [line.strip() for line in script.splitlines() if line.strip()]


def chain(script: str, name: str) -> list[str]:
    """The lines of chain `name`, between its opening and its closing brace."""
    body = lines(script)
    start = body.index(f"chain {name} {{") + 1
    return body[start:body.index("}", start)]


def assert_nft_accepts(script: str) -> None:
    """nft's syntax check of `script` (-c: nothing is applied). Skipped where it cannot
    run: no nft, or no right to read the kernel's ruleset the check starts from."""
    nft = shutil.which("nft") or "/usr/sbin/nft"
    if not os.path.exists(nft) or os.geteuid() != 0:
        return
    done = subprocess.run([nft, "-c", "-f", "-"], input=script, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_the_script_replaces_our_table_whole_in_one_transaction():
    script = render("dockyard", BRIDGES, FORWARDS)
    assert lines(script)[:3] == ["add table ip dockyard", "delete table ip dockyard", "table ip dockyard {"]
    # Only this one table is named anywhere.
    assert [l for l in lines(script) if "table" in l] == lines(script)[:3]
    assert_nft_accepts(script)


def test_published_ports_are_reached_from_outside_and_from_the_host_itself():
    script = render("dockyard", BRIDGES, FORWARDS)
    assert chain(script, "prerouting") == [
        "type nat hook prerouting priority dstnat; policy accept;",
        "fib daddr type local jump ports",
    ]
    assert chain(script, "output") == [
        "type nat hook output priority -100; policy accept;",
        "fib daddr type local jump ports",
    ]
    assert chain(script, "ports") == [
        "ip daddr 127.0.0.1 tcp dport 8080 dnat to 10.214.0.2:80",
        "udp dport 5353 dnat to 10.214.0.3:53",     # host_ip "": every local address
        "tcp dport 2222 dnat to 10.214.2.4:22",     # and so does 0.0.0.0
    ]


def test_masquerade_for_each_bridge_that_goes_out_and_for_loopback_clients_of_every_bridge():
    assert chain(render("dockyard", BRIDGES, FORWARDS), "postrouting") == [
        "type nat hook postrouting priority srcnat; policy accept;",
        'ip saddr 10.214.0.0/24 oifname != "dy-default" masquerade',
        # none for the internal bridge, none where masquerade is off
        'ip saddr 127.0.0.0/8 oifname "dy-default" masquerade',
        'ip saddr 127.0.0.0/8 oifname "dy.internal" masquerade',
        'ip saddr 127.0.0.0/8 oifname "dy_nomasq" masquerade',
        # hairpin: a container reaching a published port of its own bridge's, through the host
        'ct status dnat ip saddr 10.214.0.0/24 oifname "dy-default" masquerade',
        'ct status dnat ip saddr 10.214.1.0/24 oifname "dy.internal" masquerade',
        'ct status dnat ip saddr 10.214.2.0/24 oifname "dy_nomasq" masquerade',
    ]


def test_bridges_are_isolated_from_each_other_and_an_internal_one_from_everything():
    script = render("dockyard", BRIDGES, FORWARDS)
    body = lines(script)
    start = body.index("set bridges {")
    assert body[start:start + 4] == [
        "set bridges {", "type ifname", 'elements = { "dy-default", "dy.internal", "dy_nomasq" }', "}"]
    assert chain(script, "forward") == [
        "type filter hook forward priority filter; policy accept;",
        # an internal bridge first: no way out, not even to a published port
        'iifname "dy.internal" oifname != "dy.internal" drop',
        'oifname "dy.internal" iifname != "dy.internal" drop',
        # a published port is open to every network's containers
        "ct status dnat accept",
        'iifname "dy-default" oifname != "dy-default" oifname @bridges drop',
        'iifname "dy.internal" oifname != "dy.internal" oifname @bridges drop',
        'iifname "dy_nomasq" oifname != "dy_nomasq" oifname @bridges drop',
    ]


def test_no_bridges_and_no_ports_is_still_a_whole_table():
    script = render("dockyard", [], [])
    for name in ("prerouting", "output", "postrouting", "forward"):
        assert chain(script, name)[0].startswith("type ")
    assert chain(script, "ports") == []
    assert "elements" not in script     # nft refuses an empty element list
    assert_nft_accepts(script)


def test_a_bad_value_is_refused_before_it_reaches_a_script():
    good_bridge, good_forward = BRIDGES[0], FORWARDS[0]
    bad_tables = ["", "1dockyard", "dock yard", "dock;yard", "-x", "a" * 65, 'a"b', "a\nb"]
    for table in bad_tables:
        with pytest.raises(ValueError):
            render(table, [good_bridge], [good_forward])
    bad_bridges = [
        Bridge("a" * 16, "10.214.0.0/24"), Bridge("", "10.214.0.0/24"), Bridge('x" accept', "10.214.0.0/24"),
        Bridge("..", "10.214.0.0/24"), Bridge("dy*", "10.214.0.0/24"), Bridge("dy0", "10.214.0.1/24"),
        Bridge("dy0", "fd00::/64"), Bridge("dy0", "10.214.0.0/33"), Bridge("dy0", "any"),
    ]
    for bridge in bad_bridges:
        with pytest.raises(ValueError):
            render("dockyard", [bridge], [])
    with pytest.raises(ValueError, match="twice"):
        render("dockyard", [good_bridge, Bridge(good_bridge.name, "10.214.9.0/24")], [])
    fields = dict(proto="tcp", host_ip="", host_port=8080, address="10.214.0.2", port=80, bridge="dy0")
    bad_fields = [
        ("proto", "sctp"), ("proto", "TCP"), ("proto", "tcp accept"), ("host_ip", "::1"),
        ("host_ip", "localhost"), ("host_ip", "127.0.0.1; flush ruleset"), ("host_port", 0),
        ("host_port", 65536), ("host_port", "80"), ("host_port", True), ("address", "10.214.0.256"),
        ("address", ""), ("port", -1), ("port", 8.0), ("bridge", "a" * 16), ("bridge", "dy 0"),
    ]
    for field, value in bad_fields:
        with pytest.raises(ValueError):
            render("dockyard", [], [Forward(**{**fields, field: value})])


def test_containers_cannot_reach_the_hosts_loopback_through_their_gateway():
    assert chain(render("dockyard", BRIDGES, FORWARDS), "guard") == [
        "type filter hook prerouting priority raw; policy accept;",
        "iifname @bridges ip daddr 127.0.0.0/8 drop",
    ]
