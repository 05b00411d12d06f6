"""Network links through rtnetlink (services.kernel.rtnetlink): a bridge per network and a
veth pair per endpoint, with their addresses, routes and state. Only the supervisor uses
them.

A netlink socket belongs to the network namespace it was opened in, so work inside a
container's namespace opens its socket in a thread that entered it
(services.kernel.netns.run_in). Each call blocks on the kernel: an asyncio caller makes it
from a thread (asyncio.to_thread), not on its loop.
"""

from __future__ import annotations

import errno
import os
import socket

from . import netns
from .rtnetlink import NetlinkError, Route, family_of

IFNAMSIZ = 15   # the kernel's longest link name


def _check_name(name: str) -> str:
    if not name or len(name.encode()) > IFNAMSIZ or "/" in name or name.strip() != name:
        raise ValueError(f"{name!r} cannot name a network link")
    return name


def exists(name: str) -> bool:
    with Route() as route:
        return route.index(name) is not None


def names(prefix: str) -> list[str]:
    """The host's links whose names start with `prefix` (Dockyard's own, for sweeps)."""
    with Route() as route:
        return sorted(link.name for link in route.links() if link.name.startswith(prefix))


def owned(mark: str) -> list[str]:
    """The host's links whose alias is `mark`: those a daemon made (its sweeps touch only
    its own, whatever other daemons or engines share the host)."""
    with Route() as route:
        return sorted(link.name for link in route.links() if link.alias == mark)


def host_networks() -> list[str]:
    """The IPv4 subnets of the host's own addresses (a new network's subnet must overlap
    none of them, as dockerd checks)."""
    with Route() as route:
        return [f"{a.address}/{a.prefixlen}" for a in route.addresses(socket.AF_INET)]


def bridge(name: str, gateways: list[tuple[str, int]], mark: str = "") -> None:
    """The bridge `name` with its gateway addresses ((address, prefix length): an IPv4 one,
    maybe an IPv6 one), up (made if it is missing, an address added if it lacks it: a
    restart finds what it made before), its alias `mark`."""
    _check_name(name)
    with Route() as route:
        if route.index(name) is None:
            try:
                route.add_bridge(name)
            except NetlinkError as exc:
                if exc.errno != errno.EEXIST:
                    raise
        index = route.existing(name)
        if mark:
            route.set_alias(index, mark)
        for gateway, prefixlen in gateways:
            present = {a.address for a in route.addresses(family_of(gateway), index)}
            if gateway not in present:
                # No duplicate address detection (IPv6): the address is Dockyard's to give, now.
                route.add_address(index, gateway, prefixlen)
        route.up(index)


def remove(name: str) -> None:
    """Delete the link `name` (a bridge, or a veth and its peer); nothing if it is gone."""
    with Route() as route:
        _delete(route, name)


def _delete(route: Route, name: str) -> None:
    index = route.index(name)
    if index is None:
        return
    try:
        route.delete(index)
    except NetlinkError as exc:
        if exc.errno != errno.ENODEV:
            raise


def endpoint(host_name: str, bridge_name: str, handle: str, addresses: list[tuple[str, int, str | None]],
             mac: str, ifname: str = "eth0", mark: str = "") -> None:
    """A veth pair: `host_name` on the bridge (its alias `mark`), its peer made right in the
    namespace of `handle` as `ifname` with `mac`, then given `addresses` ((address, prefix
    length, gateway): an IPv4 one, maybe an IPv6 one; a gateway is the default route of
    its family, none for an internal network), and the namespace's loopback up. One
    request makes the pair, so a failure leaves nothing on the host."""
    _check_name(host_name)
    _check_name(ifname)
    with Route() as route:
        master = route.index(bridge_name)
        if master is None:
            raise ValueError(f"no bridge {bridge_name}")
        fd = os.open(handle, os.O_RDONLY | os.O_CLOEXEC)
        try:
            route.add_veth(host_name, master, ifname, mac, fd)
        finally:
            os.close(fd)
        if mark:   # the kernel ignores an alias given with the add
            try:
                route.set_alias(route.existing(host_name), mark)
            except BaseException:
                _delete(route, host_name)
                raise

    def inside() -> None:
        with Route() as ns:
            ns.up(ns.existing("lo"))
            index = ns.existing(ifname)
            for address, prefixlen, _ in addresses:
                ns.add_address(index, address, prefixlen)
            ns.up(index)
            for _, _, gateway in addresses:
                if gateway:
                    ns.default_route(gateway)
    try:
        netns.run_in(handle, inside)
    except BaseException:
        remove(host_name)
        raise


def addresses(handle: str, ifname: str = "eth0") -> list[str]:
    """`ifname`'s IPv4 addresses (with their prefix) in the namespace of `handle`."""
    def read() -> list[str]:
        with Route() as ns:
            index = ns.index(ifname)
            if index is None:
                return []
            return [f"{a.address}/{a.prefixlen}" for a in ns.addresses(socket.AF_INET, index)]
    return netns.run_in(handle, read)


def remove_in(handle: str, ifname: str) -> None:
    """Delete the link `ifname` inside the namespace of `handle` (a veth: its host end goes
    with it); nothing if it is gone."""
    def inside() -> None:
        with Route() as ns:
            _delete(ns, ifname)
    netns.run_in(handle, inside)


def loopback_up(handle: str) -> None:
    """Raise the loopback link of the namespace of `handle`."""
    def inside() -> None:
        with Route() as ns:
            ns.up(ns.existing("lo"))
    netns.run_in(handle, inside)


def names_in(handle: str) -> list[str]:
    """The links of the namespace of `handle`."""
    def read() -> list[str]:
        with Route() as ns:
            return sorted(link.name for link in ns.links())
    return netns.run_in(handle, read)


def default_route(handle: str, gateway: str) -> None:
    """The default route of the namespace of `handle` (of the gateway's family) through
    `gateway`, whatever it was before."""
    def inside() -> None:
        with Route() as ns:
            ns.default_route(gateway, replace=True)
    netns.run_in(handle, inside)
