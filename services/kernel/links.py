"""Network links through netlink (pyroute2): a bridge per network and a veth pair per
endpoint, with their addresses, routes and state. Only the supervisor uses them.

pyroute2 speaks netlink for us (link kinds, attributes, errors) where hand-written
packing would be long and brittle. A netlink socket belongs to the network namespace it
was opened in, so work inside a container's namespace opens its socket in a thread that
entered it (services.kernel.netns.run_in). pyroute2 runs an asyncio loop of its own, so
an asyncio caller calls these from a thread (asyncio.to_thread), never from its loop's.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import socket
import sys
import types


def _enter_pyroute2_lazily() -> None:
    """Make `pyroute2` a package whose submodules load as they are imported, and whose own
    __init__ runs only when one of its names is asked for (`from pyroute2 import X`).
    Its __init__ imports every netlink family it knows (ndb, ipdb, wireguard, nftables,
    ethtool...: 80 modules, about 5 MiB in each process that holds them) where links need
    rtnetlink's IPRoute alone."""
    if "pyroute2" in sys.modules:
        return
    spec = importlib.util.find_spec("pyroute2")
    if spec is None or spec.loader is None or not spec.submodule_search_locations:
        return
    package = types.ModuleType("pyroute2")
    package.__spec__, package.__file__, package.__loader__ = spec, spec.origin, spec.loader
    package.__path__ = list(spec.submodule_search_locations)

    def attribute(name: str):
        if importlib.util.find_spec(f"pyroute2.{name}") is not None:
            return importlib.import_module(f"pyroute2.{name}")   # a submodule: `from pyroute2 import config`
        del package.__getattr__   # once: the package's own __init__ defines the rest
        spec.loader.exec_module(package)
        return getattr(package, name)
    package.__getattr__ = attribute
    sys.modules["pyroute2"] = package


_enter_pyroute2_lazily()

from pyroute2.iproute.linux import IPRoute  # noqa: E402
from pyroute2.netlink.exceptions import NetlinkError  # noqa: E402

from . import netns  # noqa: E402

IFNAMSIZ = 15   # the kernel's longest link name
IFA_F_NODAD = 0x02   # an address with no duplicate address detection (IPv6): usable at once


def _check_name(name: str) -> str:
    if not name or len(name.encode()) > IFNAMSIZ or "/" in name or name.strip() != name:
        raise ValueError(f"{name!r} cannot name a network link")
    return name


def _index(ipr: IPRoute, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def exists(name: str) -> bool:
    with IPRoute() as ipr:
        return _index(ipr, name) is not None


def names(prefix: str) -> list[str]:
    """The host's links whose names start with `prefix` (Dockyard's own, for sweeps)."""
    with IPRoute() as ipr:
        found = (link.get_attr("IFLA_IFNAME") for link in ipr.get_links())
        return sorted(n for n in found if n and n.startswith(prefix))


def owned(mark: str) -> list[str]:
    """The host's links whose alias is `mark`: those a daemon made (its sweeps touch only
    its own, whatever other daemons or engines share the host)."""
    with IPRoute() as ipr:
        return sorted(link.get_attr("IFLA_IFNAME") for link in ipr.get_links()
                      if link.get_attr("IFLA_IFALIAS") == mark)


def host_networks() -> list[str]:
    """The IPv4 subnets of the host's own addresses (a new network's subnet must overlap
    none of them, as dockerd checks)."""
    with IPRoute() as ipr:
        return [f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}" for a in ipr.get_addr(family=2)]


def _family(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def bridge(name: str, gateways: list[tuple[str, int]], mark: str = "") -> None:
    """The bridge `name` with its gateway addresses ((address, prefix length): an IPv4 one,
    maybe an IPv6 one), up (made if it is missing, an address added if it lacks it: a
    restart finds what it made before), its alias `mark`."""
    _check_name(name)
    with IPRoute() as ipr:
        if _index(ipr, name) is None:
            try:
                ipr.link("add", ifname=name, kind="bridge")
            except NetlinkError as exc:
                if exc.code != errno.EEXIST:
                    raise
        index = _index(ipr, name)
        if mark:
            ipr.link("set", index=index, ifalias=mark)
        for gateway, prefixlen in gateways:
            family = _family(gateway)
            present = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=index, family=family)}
            if gateway not in present:
                # No duplicate address detection: the address is Dockyard's to give, now.
                ipr.addr("add", index=index, address=gateway, prefixlen=prefixlen, family=family,
                         flags=IFA_F_NODAD if family == socket.AF_INET6 else 0)
        ipr.link("set", index=index, state="up")


def remove(name: str) -> None:
    """Delete the link `name` (a bridge, or a veth and its peer); nothing if it is gone."""
    with IPRoute() as ipr:
        index = _index(ipr, name)
        if index is None:
            return
        try:
            ipr.link("del", index=index)
        except NetlinkError as exc:
            if exc.code != errno.ENODEV:
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
    with IPRoute() as ipr:
        master = _index(ipr, bridge_name)
        if master is None:
            raise ValueError(f"no bridge {bridge_name}")
        fd = os.open(handle, os.O_RDONLY | os.O_CLOEXEC)
        try:
            ipr.link("add", ifname=host_name, kind="veth", master=master, state="up",
                     peer={"ifname": ifname, "address": mac, "net_ns_fd": fd})
        finally:
            os.close(fd)
        if mark:   # the kernel ignores an alias given with the add
            try:
                ipr.link("set", index=_index(ipr, host_name), ifalias=mark)
            except BaseException:
                remove(host_name)
                raise

    def inside() -> None:
        with IPRoute() as ns:
            ns.link("set", index=_index(ns, "lo"), state="up")
            index = _index(ns, ifname)
            for address, prefixlen, _ in addresses:
                family = _family(address)
                ns.addr("add", index=index, address=address, prefixlen=prefixlen, family=family,
                        flags=IFA_F_NODAD if family == socket.AF_INET6 else 0)
            ns.link("set", index=index, state="up")
            for address, _, gateway in addresses:
                if gateway:
                    family = _family(address)
                    ns.route("add", dst="::/0" if family == socket.AF_INET6 else "0.0.0.0/0", gateway=gateway,
                             family=family)
    try:
        netns.run_in(handle, inside)
    except BaseException:
        remove(host_name)
        raise


def addresses(handle: str, ifname: str = "eth0") -> list[str]:
    """`ifname`'s IPv4 addresses (with their prefix) in the namespace of `handle`."""
    def read() -> list[str]:
        with IPRoute() as ns:
            index = _index(ns, ifname)
            if index is None:
                return []
            return [f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}" for a in ns.get_addr(index=index, family=2)]
    return netns.run_in(handle, read)


def remove_in(handle: str, ifname: str) -> None:
    """Delete the link `ifname` inside the namespace of `handle` (a veth: its host end goes
    with it); nothing if it is gone."""
    def inside() -> None:
        with IPRoute() as ns:
            index = _index(ns, ifname)
            if index is not None:
                try:
                    ns.link("del", index=index)
                except NetlinkError as exc:
                    if exc.code != errno.ENODEV:
                        raise
    netns.run_in(handle, inside)


def loopback_up(handle: str) -> None:
    """Raise the loopback link of the namespace of `handle`."""
    def inside() -> None:
        with IPRoute() as ns:
            ns.link("set", index=_index(ns, "lo"), state="up")
    netns.run_in(handle, inside)


def names_in(handle: str) -> list[str]:
    """The links of the namespace of `handle`."""
    def read() -> list[str]:
        with IPRoute() as ns:
            return sorted(link.get_attr("IFLA_IFNAME") for link in ns.get_links())
    return netns.run_in(handle, read)


def default_route(handle: str, gateway: str) -> None:
    """The default route of the namespace of `handle` (of the gateway's family) through
    `gateway`, whatever it was before."""
    def inside() -> None:
        with IPRoute() as ns:
            family = _family(gateway)
            ns.route("replace", dst="::/0" if family == socket.AF_INET6 else "0.0.0.0/0", gateway=gateway,
                     family=family)
    netns.run_in(handle, inside)
