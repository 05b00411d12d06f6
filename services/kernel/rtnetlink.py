"""Routing netlink (rtnetlink, netlink(7), rtnetlink(7)): the few requests Dockyard's
links make (bridges, veth pairs, addresses, default routes, link dumps), packed and read
by hand.

A netlink library would do this and far more, and costs for it: pyroute2 loaded 96
modules into supervisord, which every other process is forked from (7.6 of the 35.3 MiB
it loaded), and ran an event loop of its own for each socket. The
messages here are the kernel's stable ABI: a header, a fixed struct per family, then
type-length-value attributes, some nested.

A socket belongs to the network namespace of the thread that opens it
(services.kernel.netns.run_in opens one inside a container's namespace).
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from dataclasses import dataclass

NETLINK_ROUTE = 0

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_GETADDR = 20, 22
RTM_NEWROUTE = 24

NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK = 0x1, 0x2, 0x4
NLM_F_DUMP = 0x300
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400

IFLA_ADDRESS, IFLA_IFNAME, IFLA_MASTER = 1, 3, 10
IFLA_LINKINFO, IFLA_IFALIAS, IFLA_NET_NS_FD = 18, 20, 28
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_GATEWAY = 5
NLA_TYPE_MASK = 0x3FFF   # without the nested and byte-order flags

IFF_UP = 0x1
IFA_F_NODAD = 0x02          # no duplicate address detection (IPv6): usable at once
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1

_HEADER = struct.Struct("=IHHII")       # nlmsghdr: length, type, flags, sequence, port
_IFINFO = struct.Struct("=BxHiII")      # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")       # ifaddrmsg: family, prefix length, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")    # rtmsg
_ATTR = struct.Struct("=HH")            # rtattr: length, type
_RECEIVE = 65536                        # above the kernel's largest dump message


class NetlinkError(OSError):
    """The kernel refused a request: errno is its error."""


@dataclass(frozen=True)
class Link:
    index: int
    name: str
    alias: str
    flags: int


@dataclass(frozen=True)
class Address:
    index: int
    family: int
    address: str
    prefixlen: int


def _align(n: int) -> int:
    return (n + 3) & ~3


def attr(kind: int, value: bytes) -> bytes:
    """One attribute, padded to four bytes."""
    body = _ATTR.pack(_ATTR.size + len(value), kind) + value
    return body + b"\0" * (_align(len(body)) - len(body))


def text(kind: int, value: str) -> bytes:
    return attr(kind, value.encode() + b"\0")


def u32(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("=I", value))


def attrs(data: bytes, offset: int = 0) -> dict[int, bytes]:
    """The attributes from `offset` on: their values by type (nested ones still packed)."""
    found: dict[int, bytes] = {}
    while offset + _ATTR.size <= len(data):
        length, kind = _ATTR.unpack_from(data, offset)
        if length < _ATTR.size or offset + length > len(data):
            break
        found[kind & NLA_TYPE_MASK] = data[offset + _ATTR.size:offset + length]
        offset += _align(length)
    return found


def string(value: bytes | None) -> str:
    return value.split(b"\0", 1)[0].decode(errors="replace") if value else ""


def message(kind: int, flags: int, sequence: int, payload: bytes) -> bytes:
    return _HEADER.pack(_HEADER.size + len(payload), kind, flags, sequence, 0) + payload


def ifinfo(index: int = 0, flags: int = 0, change: int = 0, family: int = socket.AF_UNSPEC) -> bytes:
    return _IFINFO.pack(family, 0, index, flags, change)


def veth_request(name: str, master: int, peer_name: str, peer_mac: str, peer_netns_fd: int) -> bytes:
    """A veth pair's RTM_NEWLINK payload: `name` up on bridge `master`, its peer made in
    the namespace of `peer_netns_fd` as `peer_name` with `peer_mac`."""
    peer = ifinfo() + text(IFLA_IFNAME, peer_name) + attr(IFLA_ADDRESS, mac_bytes(peer_mac)) \
        + u32(IFLA_NET_NS_FD, peer_netns_fd)
    info = text(IFLA_INFO_KIND, "veth") + attr(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer))
    return ifinfo(flags=IFF_UP, change=IFF_UP) + text(IFLA_IFNAME, name) + u32(IFLA_MASTER, master) \
        + attr(IFLA_LINKINFO, info)


def family_of(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def mac_bytes(mac: str) -> bytes:
    parts = mac.split(":")
    if len(parts) != 6:
        raise ValueError(f"{mac!r} is not a MAC address")
    try:
        return bytes(int(p, 16) for p in parts)
    except ValueError:
        raise ValueError(f"{mac!r} is not a MAC address") from None


def parse_link(payload: bytes) -> Link:
    _, _, index, flags, _ = _IFINFO.unpack_from(payload)
    found = attrs(payload, _IFINFO.size)
    return Link(index, string(found.get(IFLA_IFNAME)), string(found.get(IFLA_IFALIAS)), flags)


def parse_address(payload: bytes) -> Address:
    family, prefixlen, _, _, index = _IFADDR.unpack_from(payload)
    found = attrs(payload, _IFADDR.size)
    raw = found.get(IFA_ADDRESS) or found.get(IFA_LOCAL) or b""
    return Address(index, family, socket.inet_ntop(family, raw) if raw else "", prefixlen)


def replies(data: bytes) -> list[tuple[int, int, int, bytes]]:
    """The messages in one datagram: (type, flags, sequence, payload) each."""
    out, offset = [], 0
    while offset + _HEADER.size <= len(data):
        length, kind, flags, sequence, _ = _HEADER.unpack_from(data, offset)
        if length < _HEADER.size or offset + length > len(data):
            break
        out.append((kind, flags, sequence, data[offset + _HEADER.size:offset + length]))
        offset += _align(length)
    return out


def error_of(payload: bytes) -> int:
    """The errno of an NLMSG_ERROR payload (0: an acknowledgement)."""
    return -struct.unpack_from("=i", payload)[0]


class Route:
    """An rtnetlink socket in the calling thread's network namespace."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        self._sock.bind((0, 0))
        self._sequence = 0

    def __enter__(self) -> "Route":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()

    def request(self, kind: int, flags: int, payload: bytes) -> list[bytes]:
        """Send one request and read every reply to it: the payloads of the messages it
        returned (a dump's, or a get's one); NetlinkError if the kernel refused it."""
        self._sequence += 1
        sequence = self._sequence
        self._sock.send(message(kind, NLM_F_REQUEST | flags, sequence, payload))
        dump = flags & NLM_F_DUMP == NLM_F_DUMP
        found: list[bytes] = []
        while True:
            for reply_kind, reply_flags, reply_sequence, body in replies(self._sock.recv(_RECEIVE)):
                if reply_sequence != sequence:
                    continue   # a late reply to an earlier request
                if reply_kind == NLMSG_ERROR:
                    code = error_of(body)
                    if code:
                        raise NetlinkError(code, os.strerror(code))
                    return found
                if reply_kind == NLMSG_DONE:
                    return found
                found.append(body)
                if not dump and not reply_flags & NLM_F_MULTI and not flags & NLM_F_ACK:
                    return found

    def change(self, kind: int, payload: bytes, flags: int = 0) -> None:
        self.request(kind, NLM_F_ACK | flags, payload)

    def links(self) -> list[Link]:
        return [parse_link(p) for p in self.request(RTM_GETLINK, NLM_F_DUMP, ifinfo())]

    def existing(self, name: str) -> int:
        """The index of link `name`; NetlinkError (ENODEV) if there is none."""
        index = self.index(name)
        if index is None:
            raise NetlinkError(errno.ENODEV, f"no link {name}")
        return index

    def index(self, name: str) -> int | None:
        """The index of link `name`, None if there is none."""
        try:
            found = self.request(RTM_GETLINK, 0, ifinfo() + text(IFLA_IFNAME, name))
        except NetlinkError as exc:
            if exc.errno in (errno.ENODEV, errno.ENOENT):
                return None
            raise
        return parse_link(found[0]).index if found else None

    def addresses(self, family: int, index: int | None = None) -> list[Address]:
        found = (parse_address(p) for p in self.request(RTM_GETADDR, NLM_F_DUMP, _IFADDR.pack(family, 0, 0, 0, 0)))
        return [a for a in found if a.family == family and (index is None or a.index == index)]

    def add_bridge(self, name: str) -> None:
        self.change(RTM_NEWLINK, ifinfo() + text(IFLA_IFNAME, name)
                    + attr(IFLA_LINKINFO, text(IFLA_INFO_KIND, "bridge")), NLM_F_CREATE | NLM_F_EXCL)

    def add_veth(self, name: str, master: int, peer_name: str, peer_mac: str, peer_netns_fd: int) -> None:
        self.change(RTM_NEWLINK, veth_request(name, master, peer_name, peer_mac, peer_netns_fd),
                    NLM_F_CREATE | NLM_F_EXCL)

    def set_alias(self, index: int, alias: str) -> None:
        self.change(RTM_SETLINK, ifinfo(index) + attr(IFLA_IFALIAS, alias.encode()))

    def up(self, index: int) -> None:
        self.change(RTM_SETLINK, ifinfo(index, IFF_UP, IFF_UP))

    def delete(self, index: int) -> None:
        self.change(RTM_DELLINK, ifinfo(index))

    def add_address(self, index: int, address: str, prefixlen: int) -> None:
        family = family_of(address)
        raw = socket.inet_pton(family, address)
        flags = IFA_F_NODAD if family == socket.AF_INET6 else 0
        self.change(RTM_NEWADDR, _IFADDR.pack(family, prefixlen, flags, RT_SCOPE_UNIVERSE, index)
                    + attr(IFA_LOCAL, raw) + attr(IFA_ADDRESS, raw), NLM_F_CREATE | NLM_F_EXCL)

    def default_route(self, gateway: str, replace: bool = False) -> None:
        """The default route of the gateway's family through `gateway` (added, or put in
        place of the one there is with `replace`)."""
        family = family_of(gateway)
        payload = _RTMSG.pack(family, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0) \
            + attr(RTA_GATEWAY, socket.inet_pton(family, gateway))
        self.change(RTM_NEWROUTE, payload, NLM_F_CREATE | (NLM_F_REPLACE if replace else NLM_F_EXCL))
