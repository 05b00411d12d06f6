"""Address management for bridge networks, as Docker's default IPAM does it, in pure logic:
a network's subnet (given, or the first free one of the default pools), its gateway,
range and reserved addresses, and the addresses handed to its endpoints.

Dockyard's pools are its own, apart from a Docker Engine's (172.17.0.0/16 for its
bridge, 172.18-31/16 and 192.168/16 for its networks) and from Podman's (10.88/16), so
the engines can share a host. Nothing here touches the kernel or the database: the
supervisor keeps what is allocated and asks again after a restart.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from services.common import errors

DEFAULT_BRIDGE = "10.213.0.1/16"              # dockerd's --bip for the predefined `bridge`
DEFAULT_POOLS = (("10.214.0.0/15", 24),)      # dockerd's --default-address-pool base, size

Net = ipaddress.IPv4Network
Addr = ipaddress.IPv4Address
AnyNet = ipaddress.IPv4Network | ipaddress.IPv6Network
AnyAddr = ipaddress.IPv4Address | ipaddress.IPv6Address


def _network(text: str, what: str, version: int = 4) -> AnyNet:
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise errors.BadParameter(f"invalid {what}: {text!r} is not a CIDR address") from None
    if net.version != version:
        raise errors.BadParameter(f"invalid {what} {text}: only IPv{version} is supported here")
    return net


def _address(text: str, what: str, version: int = 4) -> AnyAddr:
    try:
        addr = ipaddress.ip_address(text.split("/")[0])
    except ValueError:
        raise errors.BadParameter(f"invalid {what}: {text!r} is not an IP address") from None
    if addr.version != version:
        raise errors.BadParameter(f"invalid {what} {text}: only IPv{version} is supported here")
    return addr


def version_of(config: dict) -> int:
    """Which IP version an IPAM Config entry is of (its subnet's; none given: 4)."""
    return 6 if ":" in str(config.get("Subnet") or "") else 4


def pick_subnet(taken: list[Net], pools=DEFAULT_POOLS) -> Net:
    """The first subnet of the pools (each split in subnets of its size) that overlaps none
    taken; Docker's error when all are."""
    for base, size in pools:
        for candidate in _network(base, "address pool").subnets(new_prefix=size):
            if not any(candidate.overlaps(t) for t in taken):
                return candidate
    raise errors.BadParameter("could not find an available, non-overlapping IPv4 address pool among the "
                              "defaults to assign to the network")


@dataclass
class Pool:
    """One network's IPv4 or IPv6 configuration (an IPAM Config entry) and what is handed
    out of it."""
    subnet: AnyNet
    gateway: AnyAddr
    ip_range: AnyNet
    reserved: dict[str, AnyAddr] = field(default_factory=dict)   # AuxiliaryAddresses
    used: set[AnyAddr] = field(default_factory=set)

    @classmethod
    def configure(cls, config: dict, taken: list[AnyNet], pools=DEFAULT_POOLS, version: int = 4) -> "Pool":
        """A pool from an IPAM Config entry ({Subnet, IPRange, Gateway, AuxiliaryAddresses},
        each optional but an IPv6 one's subnet: there is no default IPv6 pool), checked as
        Docker checks it, overlapping no subnet `taken`."""
        if config.get("Subnet"):
            subnet = _network(config["Subnet"], "subnet", version)
            for other in taken:
                if other.version == version and subnet.overlaps(other):
                    raise errors.Forbidden("Pool overlaps with other one on this address space")
        else:
            if config.get("IPRange") or config.get("Gateway"):
                raise errors.BadParameter("a subnet is required when an IP range or a gateway is given")
            if version == 6:
                raise errors.BadParameter("an IPv6 network needs its subnet: there is no default IPv6 pool")
            subnet = pick_subnet([t for t in taken if t.version == 4], pools)
        ip_range = _network(config["IPRange"], "ip range", version) if config.get("IPRange") else subnet
        if not ip_range.subnet_of(subnet):
            raise errors.BadParameter(f"invalid ip range {ip_range}: it is not inside the subnet {subnet}")
        hosts = subnet.num_addresses
        if hosts < 4:
            raise errors.BadParameter(f"invalid subnet {subnet}: it has no room for a gateway and a container")
        gateway = _address(config["Gateway"], "gateway", version) if config.get("Gateway") \
            else subnet.network_address + 1
        if gateway not in subnet or gateway in (subnet.network_address, subnet.broadcast_address):
            raise errors.BadParameter(f"invalid gateway {gateway}: it is not a host address of {subnet}")
        reserved = {}
        for name, text in (config.get("AuxiliaryAddresses") or {}).items():
            addr = _address(text, f"auxiliary address {name}", version)
            if addr not in subnet:
                raise errors.BadParameter(f"invalid auxiliary address {name}={addr}: it is not inside {subnet}")
            reserved[name] = addr
        return cls(subnet, gateway, ip_range, reserved)

    def _free(self, addr: Addr) -> bool:
        return (addr not in self.used and addr != self.gateway and addr not in self.reserved.values()
                and addr not in (self.subnet.network_address, self.subnet.broadcast_address))

    def allocate(self, wanted: str | None = None) -> Addr:
        """An address for an endpoint: `wanted` (IPAMConfig.IPv4Address or IPv6Address) if
        it is free, else the lowest free one of the range."""
        version = self.subnet.version
        if wanted:
            addr = _address(wanted, f"IPv{version} address", version)
            if addr not in self.subnet:
                raise errors.BadParameter(f"invalid address {addr}: it does not belong to the network's "
                                          f"subnet {self.subnet}")
            if not self._free(addr):
                raise errors.Conflict(f"Address already in use: {addr}")
            self.used.add(addr)
            return addr
        for addr in self.ip_range.hosts() if self.ip_range.prefixlen < 31 else self.ip_range:
            if self._free(addr):
                self.used.add(addr)
                return addr
        raise errors.Unavailable(f"no available IPv{version} addresses on this network's address pools: "
                                 f"{self.subnet}")

    def release(self, addr: str | Addr) -> None:
        self.used.discard(_address(str(addr), "address", self.subnet.version))

    def config(self) -> dict:
        """The IPAM Config entry Docker shows for it."""
        out = {"Subnet": str(self.subnet), "Gateway": str(self.gateway)}
        if self.ip_range != self.subnet:
            out["IPRange"] = str(self.ip_range)
        if self.reserved:
            out["AuxiliaryAddresses"] = {k: str(v) for k, v in self.reserved.items()}
        return out


def mac_of(addr: Addr) -> str:
    """The MAC address Docker derives from an endpoint's IPv4 address (02:42 and its bytes)."""
    return "02:42:" + ":".join(f"{b:02x}" for b in addr.packed)


MAC_ADDRESS = re.compile(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}")


def mac_address(text) -> str:
    """A configured MAC address (Config.MacAddress, an endpoint's MacAddress), checked."""
    if not text:
        return ""
    if not isinstance(text, str) or not MAC_ADDRESS.fullmatch(text):
        raise errors.BadParameter(f"invalid MAC address: {text}")
    return text.lower()
