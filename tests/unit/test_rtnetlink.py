"""rtnetlink messages as the kernel lays them out (netlink(7), rtnetlink(7)): attributes
padded to four bytes, nested ones inside, replies split and errors read."""

from __future__ import annotations

import errno
import socket
import struct

import pytest

from services.kernel import rtnetlink as rt


def test_an_attribute_is_padded_to_four_bytes_and_its_length_counts_no_padding():
    packed = rt.text(rt.IFLA_IFNAME, "eth0")
    assert len(packed) == 12   # 4 header + "eth0\0" = 9, padded to 12
    length, kind = struct.unpack_from("=HH", packed)
    assert (length, kind) == (9, rt.IFLA_IFNAME)
    assert rt.attrs(packed) == {rt.IFLA_IFNAME: b"eth0\0"}


def test_attributes_read_back_in_order_with_the_nested_flag_masked():
    nested = struct.pack("=HH", 8, rt.IFLA_LINKINFO | 0x8000) + b"abcd"
    packed = rt.u32(rt.IFLA_MASTER, 7) + nested + rt.attr(rt.IFLA_IFALIAS, b"mark")
    found = rt.attrs(packed)
    assert struct.unpack("=I", found[rt.IFLA_MASTER]) == (7,)
    assert found[rt.IFLA_LINKINFO] == b"abcd"
    assert rt.string(found[rt.IFLA_IFALIAS]) == "mark"


def test_a_truncated_attribute_ends_the_reading():
    packed = rt.u32(rt.IFLA_MASTER, 7) + struct.pack("=HH", 40, rt.IFLA_IFNAME) + b"short"
    assert list(rt.attrs(packed)) == [rt.IFLA_MASTER]


def test_a_veth_request_carries_its_peer_nested_in_linkinfo():
    payload = rt.veth_request("dyv0abc", 5, "eth0", "02:42:0a:00:00:02", 9)
    family, _, index, flags, change = struct.unpack_from("=BxHiII", payload)
    assert (family, index, flags, change) == (0, 0, rt.IFF_UP, rt.IFF_UP)
    top = rt.attrs(payload, 16)
    assert rt.string(top[rt.IFLA_IFNAME]) == "dyv0abc"
    assert struct.unpack("=I", top[rt.IFLA_MASTER]) == (5,)
    info = rt.attrs(top[rt.IFLA_LINKINFO])
    assert rt.string(info[rt.IFLA_INFO_KIND]) == "veth"
    peer = rt.attrs(info[rt.IFLA_INFO_DATA])[rt.VETH_INFO_PEER]
    peer_attrs = rt.attrs(peer, 16)   # the peer's own ifinfomsg first
    assert rt.string(peer_attrs[rt.IFLA_IFNAME]) == "eth0"
    assert peer_attrs[rt.IFLA_ADDRESS] == bytes([2, 0x42, 10, 0, 0, 2])
    assert struct.unpack("=I", peer_attrs[rt.IFLA_NET_NS_FD]) == (9,)


@pytest.mark.parametrize("mac", ["", "02:42:0a:00:00", "02:42:0a:00:00:zz", "0242.0a00.0002"])
def test_a_bad_mac_address_is_refused(mac):
    with pytest.raises(ValueError, match="MAC"):
        rt.mac_bytes(mac)


def test_a_datagram_splits_into_its_messages():
    first = rt.message(rt.RTM_NEWLINK, rt.NLM_F_MULTI, 3, rt.ifinfo(4) + rt.text(rt.IFLA_IFNAME, "lo"))
    done = rt.message(rt.NLMSG_DONE, rt.NLM_F_MULTI, 3, b"\0" * 4)
    found = rt.replies(first + done)
    assert [(kind, sequence) for kind, _, sequence, _ in found] == [(rt.RTM_NEWLINK, 3), (rt.NLMSG_DONE, 3)]
    link = rt.parse_link(found[0][3])
    assert (link.index, link.name, link.alias) == (4, "lo", "")


def test_an_error_message_gives_the_errno_and_an_ack_gives_none():
    assert rt.error_of(struct.pack("=i", -errno.EEXIST) + b"\0" * 16) == errno.EEXIST
    assert rt.error_of(struct.pack("=i", 0) + b"\0" * 16) == 0


def test_an_address_reads_in_its_family():
    v4 = struct.pack("=BBBBI", socket.AF_INET, 16, 0, 0, 7) + rt.attr(rt.IFA_ADDRESS, socket.inet_aton("10.1.0.1"))
    v6 = struct.pack("=BBBBI", socket.AF_INET6, 64, 0, 0, 7) \
        + rt.attr(rt.IFA_ADDRESS, socket.inet_pton(socket.AF_INET6, "fd00::1"))
    assert rt.parse_address(v4) == rt.Address(7, socket.AF_INET, "10.1.0.1", 16)
    assert rt.parse_address(v6) == rt.Address(7, socket.AF_INET6, "fd00::1", 64)


def test_an_address_family_is_told_by_its_text():
    assert rt.family_of("10.0.0.1") == socket.AF_INET
    assert rt.family_of("fd00::1") == socket.AF_INET6
