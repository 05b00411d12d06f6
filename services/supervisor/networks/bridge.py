"""The bridge driver: a container's endpoints on bridge networks. At each start, its network
namespace (a handle `<exec-root>/netns/<short id>` that outlives every service), an
address from each network's pool and a veth pair into it, its published ports in the
firewall, and its hosts, resolv.conf and DNS names; all of it undone at its exit. The
kernel keeps forwarding with no Dockyard process in the path, so a restart of any
service changes nothing a container sees.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import secrets

from services.common import container_files, errors, layout
from services.common.config import Settings
from services.kernel import firewall, links, netns

from ..records import Records
from . import dns, files, ipam, legacy_links, modes, ports
from .store import Networks

log = logging.getLogger("supervisor")

VETH_PREFIX = "dyv"


def endpoint_settings(config: dict | None) -> dict:
    """Docker's EndpointSettings of a container not yet started on the network."""
    config = config or {}
    return {"IPAMConfig": config.get("IPAMConfig") or None, "Links": config.get("Links") or None,
            "Aliases": config.get("Aliases") or None, "MacAddress": ipam.mac_address(config.get("MacAddress")),
            "DriverOpts": config.get("DriverOpts") or None, "NetworkID": "", "EndpointID": "", "Gateway": "",
            "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0, "DNSNames": None}


def check_addresses(network: str, ep: dict) -> None:
    """An endpoint's fixed addresses (IPAMConfig), refused as Docker refuses them: not IP
    addresses of their family, or on the default bridge."""
    wanted = ep.get("IPAMConfig") or {}
    for key, version in (("IPv4Address", 4), ("IPv6Address", 6)):
        if wanted.get(key):
            try:
                ok = ipaddress.ip_address(wanted[key]).version == version
            except ValueError:
                ok = False
            if not ok:
                raise errors.BadParameter(f"invalid {key} {wanted[key]!r}: not an IPv{version} address")
            if network == dns.DEFAULT_BRIDGE:
                raise errors.BadParameter("user specified IP address is supported on user defined networks only")


def unplugged(ep: dict) -> dict:
    """The endpoint as a stopped container shows it: its configuration only."""
    keep = {k: ep.get(k) for k in ("IPAMConfig", "Links", "Aliases", "DriverOpts", "NetworkID")}
    mac = ep.get("MacAddress") or ""
    if ep.get("IPAddress") and mac == ipam.mac_of(ipam.Addr(ep["IPAddress"])):
        mac = ""   # derived from its address, not configured
    return {**endpoint_settings(keep), "MacAddress": mac, "NetworkID": keep["NetworkID"] or ""}


def _networks(rec: dict) -> dict:
    """The container's endpoints by network name (none in a record from before networks)."""
    return (rec.get("NetworkSettings") or {}).get("Networks") or {}


def veth_name(ep: dict) -> str:
    return VETH_PREFIX + ep["EndpointID"][:11]


class Bridges:
    def __init__(self, settings: Settings, records: Records, networks: Networks):
        self.settings = settings
        self.records = records
        self.networks = networks
        self.handles = layout.netns_dir(settings.exec_root)
        self.mark = f"dockyard:{settings.bridge}"   # the alias of every link this daemon makes
        self.pools: dict[tuple[str, int], ipam.Pool] = {}   # (network id, IP version) -> its addresses
        self.forwards: dict[str, list[firewall.Forward]] = {}   # container id -> its published ports
        self.firewall_lock = asyncio.Lock()
        self.removals: dict[str, asyncio.Task] = {}   # container id -> its namespace and veths being deleted
        # Container id -> the networks it has endpoints on, from the moment one is being
        # made (before its record says so): a network in use cannot be removed.
        self.wired: dict[str, set[str]] = {}

    def handle(self, cid: str) -> str:
        return netns.path(self.handles, cid[:12])

    def pool(self, net: dict, version: int = 4) -> ipam.Pool | None:
        """The network's IPv4 (or IPv6) addresses; None for IPv6 on a network without."""
        key = (net["Id"], version)
        if key not in self.pools:
            config = next((c for c in net["IPAM"]["Config"] if ipam.version_of(c) == version), None)
            if config is None:
                return None
            self.pools[key] = ipam.Pool.configure(config, [], version=version)
        return self.pools[key]

    def pools_of(self, net: dict) -> list[ipam.Pool]:
        return [p for p in (self.pool(net, 4), self.pool(net, 6)) if p is not None]

    def forget_pools(self, net: dict) -> None:
        for version in (4, 6):
            self.pools.pop((net["Id"], version), None)

    def gateway(self) -> str:
        """The default bridge's address: what `host-gateway` names."""
        return str(self.settings.bridge_address()[0].ip)

    # -------------------------------------------------------- the supervisor's start

    async def restore(self) -> None:
        """After a start of the supervisor: the addresses and ports running containers
        hold, the bridges and firewall as the records say, and nothing else of this
        daemon's (stray namespaces and veths a crash left)."""
        running = [rec for rec in self.records.all() if dns.running(rec)]
        keep_links, keep_handles = set(), set()
        for net in self.networks.all():
            if net["Driver"] == "bridge":
                await asyncio.to_thread(self.make_bridge, net)
                keep_links.add(net["Dockyard"]["bridge"])
        for rec in running:
            settings = rec.get("NetworkSettings") or {}
            for ep in settings.get("Networks", {}).values():
                if ep.get("IPAddress") and ep.get("EndpointID"):
                    try:
                        net = self.networks.find(ep["NetworkID"])
                    except errors.NotFound:
                        continue
                    self.wired.setdefault(rec["Id"], set()).add(net["Id"])
                    self.pool(net).used.add(ipam.Addr(ep["IPAddress"]))
                    if ep.get("GlobalIPv6Address") and self.pool(net, 6) is not None:
                        self.pool(net, 6).used.add(ipaddress.IPv6Address(ep["GlobalIPv6Address"]))
                    keep_links.add(veth_name(ep))
            if settings.get("SandboxKey"):
                keep_handles.add(os.path.basename(settings["SandboxKey"]))
            if settings.get("Ports"):
                self.forwards[rec["Id"]] = self._forwards(rec)
        for name in await asyncio.to_thread(links.owned, self.mark):
            if name not in keep_links:
                log.info("removing link %s: nothing of this daemon's uses it", name)
                await asyncio.to_thread(links.remove, name)
        for name in os.listdir(self.handles) if os.path.isdir(self.handles) else []:
            if name not in keep_handles:
                await asyncio.to_thread(netns.remove, os.path.join(self.handles, name))
        await asyncio.to_thread(firewall.enable_forwarding)
        await self.apply_firewall()
        dns.publish(self.settings.data_root, running, {ep.get("NetworkID") for rec in running
                                                       for ep in _networks(rec).values()})

    def make_bridge(self, net: dict) -> None:
        name = net["Dockyard"]["bridge"]
        links.bridge(name, [(str(p.gateway), p.subnet.prefixlen) for p in self.pools_of(net)], self.mark)
        firewall.allow_localnet(name)

    async def apply_firewall(self) -> None:
        """The whole firewall table, from the networks and the published ports."""
        bridges = [firewall.Bridge(net["Dockyard"]["bridge"], str(self.pool(net).subnet), net["Internal"],
                                   net["Options"].get("com.docker.network.bridge.enable_ip_masquerade") != "false")
                   for net in self.networks.all() if net["Driver"] == "bridge"]
        forwards = [f for fs in self.forwards.values() for f in fs]
        async with self.firewall_lock:
            await asyncio.to_thread(firewall.apply, self.settings.bridge, bridges, forwards)

    # ------------------------------------------------------------ start and exit

    async def plug_all(self, rec: dict) -> str:
        """Wire the container of `rec` at its start: its namespace's handle (returned), an
        endpoint on each of its networks, its published ports; `rec` updated, not saved."""
        settings = rec["NetworkSettings"]
        wired = []
        for name in list(settings["Networks"]):
            net = self.networks.find(name)
            if net["Driver"] != "bridge":
                raise errors.BadParameter(f"container cannot be connected to network {name} and to others")
            if net["Name"] != name:   # named by id at create
                settings["Networks"][net["Name"]] = settings["Networks"].pop(name)
            wired.append(net)
        handle = self.handle(rec["Id"])
        if rec["Id"] in self.removals:   # its last exit's handle, still being deleted
            await asyncio.shield(self.removals[rec["Id"]])
        await asyncio.to_thread(netns.remove, handle)   # a crash's leftover
        await asyncio.to_thread(netns.create, self.handles, rec["Id"][:12])
        settings["SandboxKey"], settings["SandboxID"] = handle, secrets.token_hex(32)
        try:
            routed = False
            for index, net in enumerate(wired):
                await self.plug(rec, net, f"eth{index}", route=not routed and not net["Internal"])
                routed = routed or not net["Internal"]
            self._publish(rec)
            if self.forwards.get(rec["Id"]):
                await self.apply_firewall()
            self.write_files(rec)
        except BaseException:
            await self.unplug_all(rec)
            raise
        return handle

    async def plug(self, rec: dict, net: dict, ifname: str, route: bool) -> None:
        """An endpoint of the running (or starting) container on `net`, as `ifname`."""
        ep = rec["NetworkSettings"]["Networks"].setdefault(net["Name"], endpoint_settings(None))
        pool = self.pool(net)
        self.wired.setdefault(rec["Id"], set()).add(net["Id"])
        check_addresses(net["Name"], ep)
        wanted = (ep.get("IPAMConfig") or {}).get("IPv4Address") or None
        address = pool.allocate(wanted)
        pool6, address6 = self.pool(net, 6), None
        if pool6 is not None:
            try:
                address6 = pool6.allocate((ep.get("IPAMConfig") or {}).get("IPv6Address") or None)
            except BaseException:
                pool.release(address)
                raise
            ep.update(GlobalIPv6Address=str(address6), GlobalIPv6PrefixLen=pool6.subnet.prefixlen,
                      IPv6Gateway="" if net["Internal"] else str(pool6.gateway))
        ep.update(NetworkID=net["Id"], EndpointID=secrets.token_hex(32), IPAddress=str(address),
                  IPPrefixLen=pool.subnet.prefixlen, Gateway="" if net["Internal"] else str(pool.gateway),
                  # Config.MacAddress (before API 1.44) is the first network's.
                  MacAddress=ep.get("MacAddress") or (ifname == "eth0" and rec["Config"].get("MacAddress"))
                  or ipam.mac_of(address),
                  DNSNames=None if net["Name"] == dns.DEFAULT_BRIDGE else dns.dns_names(rec, ep))
        addresses = [(str(address), pool.subnet.prefixlen, str(pool.gateway) if route else None)]
        if address6 is not None:
            addresses.append((str(address6), pool6.subnet.prefixlen, str(pool6.gateway) if route else None))
        try:
            await asyncio.to_thread(links.endpoint, veth_name(ep), net["Dockyard"]["bridge"],
                                    rec["NetworkSettings"]["SandboxKey"], addresses, ep["MacAddress"], ifname,
                                    self.mark)
        except BaseException:
            pool.release(address)
            if address6 is not None:
                pool6.release(address6)
            ep.update(unplugged(ep))
            self._unwired(rec["Id"], net["Id"])
            raise

    def release(self, rec: dict, name: str) -> str | None:
        """Give back what the container's endpoint on network `name` holds (its addresses),
        in `rec` (not saved) and at once, with no wait: the name of its veth, which the
        caller deletes (or the kernel, with the namespace)."""
        ep = rec["NetworkSettings"]["Networks"][name]
        veth = veth_name(ep) if ep.get("EndpointID") else None
        if ep.get("IPAddress"):
            try:
                net = self.networks.find(ep["NetworkID"])
            except errors.NotFound:
                net = None
            if net is not None:
                self.pool(net).release(ep["IPAddress"])
                if ep.get("GlobalIPv6Address") and self.pool(net, 6) is not None:
                    self.pool(net, 6).release(ep["GlobalIPv6Address"])
        self._unwired(rec["Id"], ep.get("NetworkID") or "")
        rec["NetworkSettings"]["Networks"][name] = unplugged(ep)
        return veth

    def _unwired(self, cid: str, network_id: str) -> None:
        nets = self.wired.get(cid)
        if nets is not None:
            nets.discard(network_id)
            if not nets:
                del self.wired[cid]

    def in_use(self, network_id: str) -> bool:
        """Whether a container has (or is being given) an endpoint on the network."""
        return any(network_id in nets for nets in self.wired.values())

    async def unplug(self, rec: dict, name: str) -> None:
        """Take the container's endpoint on network `name` away: its addresses, its veth."""
        veth = self.release(rec, name)
        if veth:
            await asyncio.to_thread(links.remove, veth)

    def release_all(self, rec: dict) -> tuple[str, list[str], bool]:
        """What unplug_all gives back, in `rec` (not saved) and at once, with no wait: so a
        record changed by a connect meanwhile is never overwritten. The kernel's part to
        do (finish): the namespace's handle, the veths, whether the firewall changed."""
        settings = rec.get("NetworkSettings")
        if not settings:
            return "", [], False
        veths = [v for v in (self.release(rec, name) for name in list(settings["Networks"])) if v]
        handle = settings.get("SandboxKey") or ""
        settings.update(SandboxKey="", SandboxID="", Ports={})
        self.wired.pop(rec["Id"], None)
        return handle, veths, self.forwards.pop(rec["Id"], None) is not None

    async def finish(self, rec: dict, handle: str, veths: list[str], firewall_changed: bool) -> None:
        """The kernel's part of an exit (release_all said what). The namespace's handle goes
        off the exit's path (its unmount waits for the kernel, tens of milliseconds), before
        the container's next start (plug_all waits for it); the kernel deletes its veths
        with it, a little later, unless another container still holds the namespace
        (container:<id>): then they are deleted here, or its old addresses would stay."""
        joined = any(dns.running(other) and modes.joins(other) in (rec["Id"], rec["Name"].lstrip("/"),
                                                                    rec["Id"][:12])
                     for other in self.records.all()) if veths else False
        self.remove_later(*(veths if joined else []), handle=handle, cid=rec["Id"])
        if firewall_changed:
            await self.apply_firewall()
        try:
            os.unlink(container_files.paths(self.settings.data_root, rec["Id"])["names"])
        except FileNotFoundError:
            pass

    async def unplug_all(self, rec: dict) -> None:
        """Undo plug_all (a start that failed, a removal): `rec` updated, not saved. What is
        gone already is skipped."""
        await self.finish(rec, *self.release_all(rec))

    def remove_later(self, *veths: str, handle: str = "", cid: str = "") -> None:
        """Delete a namespace's handle, then veths, in the background (the container's next
        plug_all waits for it: its handle has the same name)."""
        async def remove() -> None:
            try:
                if handle:
                    await asyncio.to_thread(netns.remove, handle)
                for veth in veths:
                    await asyncio.to_thread(links.remove, veth)
            except Exception:   # the sweep at the next start takes it
                log.exception("removing the namespace handle %s or veths %s", handle, veths)
            finally:
                if self.removals.get(key) is task:
                    del self.removals[key]
        if veths or handle:
            key = cid or secrets.token_hex(8)
            task = asyncio.ensure_future(remove())
            self.removals[key] = task

    def _forwards(self, rec: dict) -> list[firewall.Forward]:
        """Its published ports, to its address on the first network that is not internal
        (an internal network's containers publish nothing, as in Docker)."""
        settings = rec["NetworkSettings"]
        for ep in settings["Networks"].values():
            if not ep.get("IPAddress"):
                continue
            try:
                net = self.networks.find(ep["NetworkID"])
            except errors.NotFound:
                continue
            if not net["Internal"]:
                return [firewall.Forward(b.proto, b.host_ip, b.host_port, ep["IPAddress"], b.port,
                                         net["Dockyard"]["bridge"])
                        for b in ports.from_settings(settings.get("Ports"))]
        return []

    async def reforward(self, rec: dict) -> None:
        """After a connect or a disconnect: its published ports go to where it is now."""
        forwards = self._forwards(rec)
        if forwards != self.forwards.get(rec["Id"], []):
            self.forwards[rec["Id"]] = forwards
            await self.apply_firewall()

    def _publish(self, rec: dict) -> None:
        """Host ports for the container's bindings, into its NetworkSettings.Ports."""
        config, host = rec["Config"], rec["HostConfig"]
        asked = ports.wanted(config, host)
        taken = [b for cid, fs in self.forwards.items() if cid != rec["Id"]
                 for b in (ports.Bound(f.port, f.proto, f.host_ip, f.host_port) for f in fs)]
        rec["NetworkSettings"]["Ports"] = ports.settings_ports(config, host, ports.choose(asked, taken))
        self.forwards[rec["Id"]] = self._forwards(rec)

    def write_files(self, rec: dict) -> None:
        """Its hosts and resolv.conf for its addresses now, and its DNS names."""
        eps = [ep for ep in rec["NetworkSettings"]["Networks"].values() if ep.get("IPAddress")]
        d = container_files.paths(self.settings.data_root, rec["Id"])
        files.write_all(d, rec, self.gateway(), [eps[0]["IPAddress"]] if eps else [],
                        legacy_links.hosts_entries(rec, self.records), embedded=dns.embedded(rec))
        if dns.embedded(rec):
            dns.write(self.settings.data_root, rec, self.records.all())

    def published(self, rec: dict) -> None:
        """Tell the other containers' DNS of a change of `rec` (saved): its start, exit,
        connect or disconnect."""
        if not dns.embedded(rec):
            return   # only on the default bridge (or none, or the host's): no one's DNS names it
        ids = {ep.get("NetworkID") for ep in _networks(rec).values()}
        dns.publish(self.settings.data_root, self.records.all(), ids - {None, ""})
