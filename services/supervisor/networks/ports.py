"""Published ports, as Docker's port mapper gives them: what a container asks for
(HostConfig.PortBindings, and PublishAllPorts over its ExposedPorts), the host ports it
gets (a given one, the first free one of a range, or one the kernel picks), and how its
NetworkSettings.Ports shows them. Forwarding itself is the firewall's (kernel.firewall).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from services.common import errors

PROTOCOLS = {"tcp": socket.SOCK_STREAM, "udp": socket.SOCK_DGRAM}   # those published
SCTP = "sctp"   # a port an image may expose (and links name), never published here
ANY_ADDRESS = "0.0.0.0"


@dataclass(frozen=True)
class Wanted:
    """One binding asked for: container `port`/`proto` on host `host_ip` ("": every address),
    a host port from `low` to `high` (0, 0: any free one)."""
    port: int
    proto: str
    host_ip: str
    low: int
    high: int


@dataclass(frozen=True)
class Bound:
    port: int
    proto: str
    host_ip: str
    host_port: int

    def clashes(self, proto: str, host_ip: str, host_port: int) -> bool:
        return (self.proto == proto and self.host_port == host_port
                and (not self.host_ip or not host_ip or self.host_ip == host_ip))


def port_key(text: str) -> tuple[int, str]:
    """A port key of ExposedPorts or PortBindings ("80/tcp", "53/udp", "80") as (port, proto)."""
    number, _, proto = str(text).partition("/")
    proto = (proto or "tcp").lower()
    if proto not in (*PROTOCOLS, SCTP) or not number.isdigit() or not 0 < int(number) < 65536:
        raise errors.BadParameter(f"invalid port specification: {text!r}")
    return int(number), proto


def _host_ports(text: str, key: str) -> tuple[int, int]:
    text = (text or "").strip()
    if text in ("", "0"):
        return 0, 0
    low, _, high = text.partition("-")
    try:
        first, last = int(low), int(high or low)
    except ValueError:
        raise errors.BadParameter(f"invalid port specification: {text!r} (for {key})") from None
    if not 0 < first <= last < 65536:
        raise errors.BadParameter(f"invalid port specification: {text!r} (for {key})")
    return first, last


def _host_ip(text: str) -> str:
    if not text or text == ANY_ADDRESS:
        return ""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise errors.BadParameter(f"invalid host IP address {text!r} in a port binding") from None
    if address.version != 4:
        raise errors.BadParameter(f"invalid host IP address {text}: only IPv4 ports are published here")
    return str(address)


def wanted(config: dict, host: dict) -> list[Wanted]:
    """The bindings a container asks for, checked (a BadParameter for a bad one)."""
    out: list[Wanted] = []
    bindings = host.get("PortBindings") or {}
    for key, entries in bindings.items():
        port, proto = port_key(key)
        if entries and proto == SCTP:
            raise errors.BadParameter(f"invalid port {key}: sctp ports cannot be published here")
        for entry in entries or []:
            entry = entry or {}
            low, high = _host_ports(entry.get("HostPort") or "", key)
            out.append(Wanted(port, proto, _host_ip(entry.get("HostIp") or ""), low, high))
    if host.get("PublishAllPorts"):
        bound_keys = {port_key(k) for k, v in bindings.items() if v}
        for key in config.get("ExposedPorts") or {}:
            port, proto = port_key(key)
            if (port, proto) not in bound_keys and proto != SCTP:   # sctp: exposed, never published
                out.append(Wanted(port, proto, "", 0, 0))
    return out


def _probe(proto: str, host_ip: str, host_port: int) -> int | None:
    """The port (the kernel's pick for 0) if the host lets it be bound now, else None."""
    with socket.socket(socket.AF_INET, PROTOCOLS[proto]) as probe:
        if proto == "tcp":
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host_ip or ANY_ADDRESS, host_port))
        except OSError:
            return None
        return probe.getsockname()[1]


def choose(asked: list[Wanted], taken: list[Bound], probe=_probe) -> list[Bound]:
    """Host ports for `asked`, none of them `taken` (other containers' bindings) or in use
    on the host; a Conflict in Docker's words when a given port is not free."""
    out: list[Bound] = []

    def free(w: Wanted, host_port: int) -> bool:
        return (not any(b.clashes(w.proto, w.host_ip, host_port) for b in [*taken, *out])
                and probe(w.proto, w.host_ip, host_port) is not None)

    for w in asked:
        if w.low == 0:
            for _ in range(16):   # the kernel's pick may be one another container has
                picked = probe(w.proto, w.host_ip, 0)
                if picked is not None and free(w, picked):
                    break
            else:
                raise errors.Conflict(f"no free host port to publish {w.port}/{w.proto}")
        else:
            picked = next((p for p in range(w.low, w.high + 1) if free(w, p)), None)
            if picked is None:
                where = f"{w.host_ip or ANY_ADDRESS}:{w.low}" + (f"-{w.high}" if w.high != w.low else "")
                raise errors.Conflict(f"driver failed programming external connectivity: Bind for {where} "
                                      "failed: port is already allocated")
        out.append(Bound(w.port, w.proto, w.host_ip, picked))
    return out


def settings_ports(config: dict, host: dict, bound: list[Bound]) -> dict:
    """NetworkSettings.Ports: every exposed or published port, "80/tcp" -> its bindings
    ([{HostIp, HostPort}]) or None."""
    ports: dict = {}
    for key in [*(config.get("ExposedPorts") or {}), *(host.get("PortBindings") or {})]:
        port, proto = port_key(key)
        ports.setdefault(f"{port}/{proto}", None)
    for b in bound:
        ports.setdefault(f"{b.port}/{b.proto}", None)
        ports[f"{b.port}/{b.proto}"] = (ports[f"{b.port}/{b.proto}"] or []) + [
            {"HostIp": b.host_ip or ANY_ADDRESS, "HostPort": str(b.host_port)}]
    return ports


def from_settings(ports: dict | None) -> list[Bound]:
    """The bindings a NetworkSettings.Ports holds (a running container's, after a restart)."""
    out = []
    for key, entries in (ports or {}).items():
        port, proto = port_key(key)
        for entry in entries or []:
            ip = entry.get("HostIp") or ""
            out.append(Bound(port, proto, "" if ip == ANY_ADDRESS else ip, int(entry["HostPort"])))
    return out
