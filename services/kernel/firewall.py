"""The host firewall for Dockyard's networks through nftables: published ports (DNAT),
outbound NAT (masquerade) and isolation between bridges. Only the supervisor uses it.

Why nftables, and why this shape: everything Dockyard needs lives in one table of its
own, `ip <table>`, and every change replaces that table whole in a single `nft -f -`
transaction (add the table, delete it, define it again). The kernel applies such a
script atomically, so a crash or a refused rule never leaves half a ruleset behind, and
the supervisor need not remember which rules it added before: it renders the whole
table from its records each time. Docker's iptables chains (and anyone else's tables)
are never read or touched, so a Docker Engine can run on the same host.

Names and addresses are checked before they reach the script: a bad one is a ValueError,
never text spliced into a firewall rule.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
from dataclasses import dataclass
from typing import Sequence

NFT = "/usr/sbin/nft"
IFNAMSIZ = 15   # the kernel's longest link name
# nft's scanner reads a bare word starting with a digit as a number, so a table name
# starts with a letter; link names go into the script quoted.
_TABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
_LINK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,%d}" % IFNAMSIZ)
_PROC_IPV4 = "/proc/sys/net/ipv4"


@dataclass(frozen=True)
class Bridge:
    name: str                # the bridge link's name
    subnet: str              # its IPv4 subnet, "10.214.0.0/24"
    internal: bool = False   # no way out of (or into) the bridge but to its own members
    masquerade: bool = True  # outbound NAT for its subnet (com.docker.network.bridge.enable_ip_masquerade)


@dataclass(frozen=True)
class Forward:
    """One published port."""
    proto: str      # "tcp" or "udp"
    host_ip: str    # "" or "0.0.0.0": every local address of the host; else that IPv4 address only
    host_port: int
    address: str    # the container's IPv4 address
    port: int       # the container's port
    bridge: str     # the bridge the container sits on


class FirewallError(Exception):
    """nft refused: its message, on one line."""


def _table(name: str) -> str:
    if not isinstance(name, str) or not _TABLE_NAME.fullmatch(name):
        raise ValueError(f"{name!r} cannot name an nftables table")
    return name


def _link(name: str) -> str:
    # "." and ".." are no link's names, and would walk out of a /proc/sys path.
    if not isinstance(name, str) or not _LINK_NAME.fullmatch(name) or name in (".", ".."):
        raise ValueError(f"{name!r} cannot name a network link")
    return name


def usable_link_name(name: str) -> bool:
    """Whether a bridge may have this name (one the firewall's rules can hold)."""
    try:
        _link(name)
    except ValueError:
        return False
    return True


def _address(text: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except (ipaddress.AddressValueError, TypeError) as exc:
        raise ValueError(f"{text!r} is not an IPv4 address") from exc


def _subnet(text: str) -> str:
    try:
        return str(ipaddress.IPv4Network(text, strict=True))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{text!r} is not an IPv4 subnet") from exc


def _port(number: int) -> int:
    # bool is an int to Python, never a port to us.
    if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= 65535:
        raise ValueError(f"{number!r} is not a port")
    return number


def _port_rule(forward: Forward) -> str:
    if forward.proto not in ("tcp", "udp"):
        raise ValueError(f"{forward.proto!r} is not a protocol a port is published on")
    _link(forward.bridge)
    match = ""
    if forward.host_ip not in ("", "0.0.0.0"):
        match = f"ip daddr {_address(forward.host_ip)} "
    return (f"{match}{forward.proto} dport {_port(forward.host_port)} "
            f"dnat to {_address(forward.address)}:{_port(forward.port)}")


def render(table: str, bridges: Sequence[Bridge], forwards: Sequence[Forward]) -> str:
    """The nft script that replaces the table `ip <table>` whole (add the table, delete
    it, define it again: one transaction). ValueError on a bad name or address."""
    table = _table(table)
    names = [_link(b.name) for b in bridges]
    if len(set(names)) != len(names):
        raise ValueError("a bridge is named twice")
    subnets = [_subnet(b.subnet) for b in bridges]
    port_rules = [_port_rule(f) for f in forwards]

    masquerades = []
    for bridge, subnet in zip(bridges, subnets):
        if bridge.masquerade and not bridge.internal:
            masquerades.append(f'ip saddr {subnet} oifname != "{bridge.name}" masquerade')
    # A loopback client of a published port (127.0.0.1 → container) leaves with the
    # bridge's address: the container could not answer 127.0.0.1. The kernel routes
    # such a packet out of a bridge only with route_localnet on it (allow_localnet).
    for name in names:
        masquerades.append(f'ip saddr 127.0.0.0/8 oifname "{name}" masquerade')
    # A container reaching a published port of a container on its own bridge (through a
    # host address: hairpin) leaves with the bridge's address, or the answer would come
    # straight back across the bridge, past the translation.
    for bridge, subnet in zip(bridges, subnets):
        masquerades.append(f'ct status dnat ip saddr {subnet} oifname "{bridge.name}" masquerade')

    internal, isolation = [], []
    for bridge in bridges:
        # No traffic from one of our bridges into another one of ours, as Docker's
        # DOCKER-ISOLATION chains do; the way out to the host's uplinks stays open.
        isolation.append(f'iifname "{bridge.name}" oifname != "{bridge.name}" oifname @bridges drop')
        if bridge.internal:
            internal.append(f'iifname "{bridge.name}" oifname != "{bridge.name}" drop')
            internal.append(f'oifname "{bridge.name}" iifname != "{bridge.name}" drop')
    # A published port is open to every network's containers (as through Docker's proxy),
    # but not a way out of an internal network.
    filtering = internal + ["ct status dnat accept"] + isolation

    def block(lines: list[str]) -> str:
        return "".join(f"\t\t{line}\n" for line in lines)

    quoted = ", ".join(f'"{name}"' for name in names)
    members = f"\t\telements = {{ {quoted} }}\n" if names else ""   # nft refuses an empty list
    return (
        # Adding first makes the delete succeed when the table is absent (a first start).
        f"add table ip {table}\n"
        f"delete table ip {table}\n"
        f"table ip {table} {{\n"
        f"\tset bridges {{\n\t\ttype ifname\n{members}\t}}\n"
        # Published ports answer on the host's own addresses only, whether the client
        # comes from outside (prerouting) or from this host (output, loopback included).
        # route_localnet (allow_localnet) lets a loopback client's packets out onto a bridge;
        # nothing may come the other way: a container sending to 127.0.0.0/8 through its
        # gateway would reach the host's loopback services (the CVE-2020-8558 class).
        f"\tchain guard {{\n\t\ttype filter hook prerouting priority raw; policy accept;\n"
        f"\t\tiifname @bridges ip daddr 127.0.0.0/8 drop\n\t}}\n"
        f"\tchain prerouting {{\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
        f"\t\tfib daddr type local jump ports\n\t}}\n"
        f"\tchain output {{\n\t\ttype nat hook output priority -100; policy accept;\n"
        f"\t\tfib daddr type local jump ports\n\t}}\n"
        f"\tchain ports {{\n{block(port_rules)}\t}}\n"
        f"\tchain postrouting {{\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
        f"{block(masquerades)}\t}}\n"
        f"\tchain forward {{\n\t\ttype filter hook forward priority filter; policy accept;\n"
        f"{block(filtering)}\t}}\n"
        f"}}\n"
    )


def _nft(args: list[str], script: str | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([NFT, *args], input=script, capture_output=True, text=True, timeout=60)
    except FileNotFoundError as exc:
        raise FirewallError(f"{NFT} is missing: install the nftables package") from exc
    except subprocess.TimeoutExpired as exc:
        raise FirewallError(f"nft {' '.join(args)} did not finish in {exc.timeout:g}s") from exc


def _message(stderr: str) -> str:
    # nft says where it failed, then the line and a row of carets under the fault: the
    # carets go, the rest is kept on one line.
    lines = [line.strip() for line in stderr.splitlines()]
    return " | ".join(line for line in lines if line and set(line) != {"^"}) or "nft failed"


def _run(script: str) -> None:
    done = _nft(["-f", "-"], script)
    if done.returncode != 0:
        raise FirewallError(_message(done.stderr))


def apply(table: str, bridges: Sequence[Bridge], forwards: Sequence[Forward]) -> None:
    """Replace the table with the rules for `bridges` and `forwards`, atomically.
    FirewallError if nft refuses (the table is then as it was)."""
    _run(render(table, bridges, forwards))


def remove(table: str) -> None:
    """Delete the table; nothing if it is absent."""
    table = _table(table)
    _run(f"add table ip {table}\ndelete table ip {table}\n")


def listing(table: str) -> str:
    """The table as `nft list table ip <table>` shows it; "" if it is absent."""
    done = _nft(["list", "table", "ip", _table(table)])
    if done.returncode == 0:
        return done.stdout
    if "No such file or directory" in done.stderr:
        return ""
    raise FirewallError(_message(done.stderr))


def _set(path: str, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


def enable_forwarding() -> None:
    """net.ipv4.ip_forward = 1, as dockerd sets it: a bridge's traffic to the world is
    routed by the host."""
    _set(f"{_PROC_IPV4}/ip_forward", "1")


def allow_localnet(bridge: str) -> None:
    """net.ipv4.conf.<bridge>.route_localnet = 1: lets a loopback client's packet (from
    127.0.0.1, before its masquerade) be routed out of the bridge to a published port."""
    _set(f"{_PROC_IPV4}/conf/{_link(bridge)}/route_localnet", "1")
