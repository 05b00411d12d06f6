"""The network methods (network.*): create, list, inspect, remove, connect, disconnect and
prune, with Docker's checks and errors. The bridge driver (bridge.Bridges) does the
kernel's part."""

from __future__ import annotations

import asyncio

from services.common import errors, timefmt, wire
from services.common import filters as common
from services.common.config import Settings
from services.kernel import firewall, links

from .. import spec
from ..events import network_event
from ..records import Records
from . import bridge, dns, ipam, modes
from .store import BUILTIN_DRIVERS, PREDEFINED, Networks, blank

BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"


def endpoints_on(net: dict, records: list[dict]) -> dict:
    """Docker's inspect `Containers`: the running containers' endpoints on `net`."""
    out = {}
    for rec in records:
        if not dns.running(rec):
            continue
        for ep in ((rec.get("NetworkSettings") or {}).get("Networks") or {}).values():
            if ep.get("NetworkID") == net["Id"] and ep.get("EndpointID"):
                out[rec["Id"]] = {"Name": rec["Name"].lstrip("/"), "EndpointID": ep["EndpointID"],
                                  "MacAddress": ep["MacAddress"],
                                  "IPv4Address": f"{ep['IPAddress']}/{ep['IPPrefixLen']}",
                                  "IPv6Address": f"{ep['GlobalIPv6Address']}/{ep['GlobalIPv6PrefixLen']}"
                                  if ep.get("GlobalIPv6Address") else ""}
    return out


def shown(net: dict, records: list[dict]) -> dict:
    """The network as Docker's inspect shows it."""
    out = {k: v for k, v in net.items() if k != "Dockyard"}
    out["Containers"] = endpoints_on(net, records)
    return out


def _until(values: list[str] | None) -> float | None:
    if not values:
        return None
    try:
        return float(values[-1])
    except ValueError:
        try:
            return timefmt.parse(values[-1]).timestamp()
        except ValueError:
            raise errors.BadParameter(f"invalid filter 'until={values[-1]}'") from None


def matches(net: dict, filters: dict, records: list[dict]) -> bool:
    """Docker's network list filters (moby daemon/network/filter.go)."""
    f = {k: v for k, v in (filters or {}).items() if v is not None}
    if f.get("name") and not any(v in net["Name"] for v in f["name"]):
        return False
    if f.get("id") and not any(net["Id"].startswith(v) for v in f["id"]):
        return False
    if f.get("driver") and net["Driver"] not in f["driver"]:
        return False
    if not common.match_labels(f.get("label"), f.get("label_not"), net.get("Labels")):
        return False
    if f.get("type"):
        for value in f["type"]:
            if value not in ("custom", "builtin"):
                raise errors.BadParameter(f"invalid filter: 'type'='{value}'")
        kind = "builtin" if net["Name"] in PREDEFINED else "custom"
        if kind not in f["type"]:
            return False
    if "dangling" in f:
        dangling = common.get_bool(f, "dangling", False)
        unused = net["Name"] not in PREDEFINED and not endpoints_on(net, records)
        if dangling != unused:
            return False
    until = _until(f.get("until"))
    if until is not None and timefmt.parse(net["Created"]).timestamp() > until:
        return False
    return True


class NetworksRoom:
    def __init__(self, settings: Settings, records: Records, networks: Networks, bridges: bridge.Bridges):
        self.settings = settings
        self.records = records
        self.networks = networks
        self.bridges = bridges
        self.lock = asyncio.Lock()   # one create or remove at a time: subnets and names are checked, then taken

    def handlers(self) -> dict:
        return {f"network.{name}": getattr(self, name)
                for name in ("create", "list", "inspect", "remove", "connect", "disconnect", "prune")}

    async def list(self, call: wire.Call) -> dict:
        records = self.records.all()
        filters = call.params.get("filters") or {}
        return {"networks": [shown(net, records) for net in self.networks.all() if matches(net, filters, records)]}

    async def inspect(self, call: wire.Call) -> dict:
        return shown(self.networks.find(call.params["id"]), self.records.all())

    # ------------------------------------------------------------------ create

    async def _taken(self) -> list[ipam.Net]:
        """Subnets a new network must not overlap: the other networks', the host's own."""
        taken = [pool.subnet for net in self.networks.all() if net["Driver"] == "bridge"
                 for pool in self.bridges.pools_of(net)]
        # A netlink dump blocks: not on this loop's thread.
        for text in await asyncio.to_thread(links.host_networks):
            net = ipam.Net(text, strict=False)
            if not net.is_loopback and not any(net.overlaps(t) for t in taken):
                taken.append(net)
        return taken

    async def create(self, call: wire.Call) -> dict:
        body = call.params["config"]
        name = body["Name"]
        if not name or not isinstance(name, str):
            raise errors.BadParameter("network name is required")
        driver = body.get("Driver") or "bridge"
        if driver in ("host", "null"):
            raise errors.Forbidden(f'only one instance of "{driver}" network is allowed')
        if driver != "bridge":
            raise errors.NotFound(f'plugin "{driver}" not found')
        if body.get("Ingress") or body.get("ConfigOnly") or (body.get("Scope") or "local") != "local":
            raise errors.BadParameter("only local bridge networks can be made here (no ingress, config-only "
                                      "or swarm scoped networks)")
        ipam_body = body.get("IPAM") or {}
        if not isinstance(ipam_body, dict):
            raise errors.BadParameter("IPAM must be an object")
        if (ipam_body.get("Driver") or "default") != "default":
            raise errors.NotFound(f'plugin "{ipam_body["Driver"]}" not found')
        configs = ipam_body.get("Config") or []
        if not isinstance(configs, list) or not all(isinstance(c, dict) for c in configs):
            raise errors.BadParameter("IPAM.Config must be a list of objects")
        v4 = [c for c in configs if ipam.version_of(c) == 4]
        v6 = [c for c in configs if ipam.version_of(c) == 6]
        if len(v4) > 1 or len(v6) > 1:
            raise errors.BadParameter("a network here has one IPv4 subnet and, with EnableIPv6, one IPv6 subnet")
        if bool(v6) != bool(body.get("EnableIPv6")):
            raise errors.BadParameter("an IPv6 subnet goes with EnableIPv6, and EnableIPv6 needs one (there is "
                                      "no default IPv6 pool)")
        options = dict(body.get("Options") or {})
        async with self.lock:
            if self.networks.by_name(name) is not None:
                raise errors.Conflict(f"network with name {name} already exists")
            taken = await self._taken()
            pools = [ipam.Pool.configure(v4[0] if v4 else {}, taken, self.settings.address_pools())]
            if v6:
                pools.append(ipam.Pool.configure(v6[0], taken, version=6))
            rec = blank(name, "bridge", [pool.config() for pool in pools], options, body.get("Labels") or {},
                        bool(body.get("Internal")), bool(body.get("Attachable")))
            rec["EnableIPv6"] = bool(body.get("EnableIPv6"))
            rec["IPAM"]["Options"] = ipam_body.get("Options") or None
            link = options.get(BRIDGE_NAME_OPTION) or f"dy-{rec['Id'][:12]}"
            if not firewall.usable_link_name(link):
                raise errors.BadParameter(f"invalid bridge name {link!r}: 1 to 15 letters, digits, '_', '.' or '-'")
            if link == self.settings.bridge or any(n["Dockyard"]["bridge"] == link for n in self.networks.all()) \
                    or await asyncio.to_thread(links.exists, link):
                raise errors.Conflict(f"bridge name {link} is in use")
            rec["Dockyard"]["bridge"] = link
            for pool in pools:
                self.bridges.pools[rec["Id"], pool.subnet.version] = pool
            try:
                await asyncio.to_thread(self.bridges.make_bridge, rec)
                self.networks.insert(rec)
            except BaseException:
                self.bridges.forget_pools(rec)
                await asyncio.to_thread(links.remove, link)
                raise
            await self.bridges.apply_firewall()
        network_event(rec, "create")
        return {"id": rec["Id"], "warning": ""}

    # ------------------------------------------------------------------ remove

    async def remove(self, call: wire.Call) -> dict:
        async with self.lock:
            net = self.networks.find(call.params["id"])
            await self._remove(net)
        return {}

    async def _remove(self, net: dict) -> None:
        if net["Name"] in PREDEFINED:
            raise errors.Forbidden(f"{net['Name']} is a pre-defined network and cannot be removed")
        if endpoints_on(net, self.records.all()) or self.bridges.in_use(net["Id"]):
            raise errors.Conflict(f"error while removing network: network {net['Name']} id {net['Id']} "
                                  "has active endpoints")
        self.networks.delete(net["Id"])
        network_event(net, "destroy")
        self.bridges.forget_pools(net)
        await asyncio.to_thread(links.remove, net["Dockyard"]["bridge"])
        await self.bridges.apply_firewall()

    async def prune(self, call: wire.Call) -> dict:
        filters = {k: v for k, v in (call.params.get("filters") or {}).items() if k in ("until", "label", "label_not")}
        deleted = []
        async with self.lock:
            records = self.records.all()
            for net in self.networks.all():
                # As dockerd: a network without active endpoints (running containers) is unused.
                if net["Name"] in PREDEFINED or endpoints_on(net, records) or not matches(net, filters, records):
                    continue
                await self._remove(net)
                deleted.append(net["Name"])
        return {"deleted": deleted}

    # ------------------------------------------------------ connect, disconnect

    async def connect(self, call: wire.Call) -> dict:
        net = self.networks.find(call.params["id"])
        cid = self.records.resolve(call.params["container"])
        config = call.params.get("endpoint_config")
        if config is not None:
            spec.types.check_endpoint(config)
        async with self.records.lock(cid):
            rec = self.records.load(cid)
            mode = rec["HostConfig"].get("NetworkMode") or "default"
            if net["Driver"] in (BUILTIN_DRIVERS["host"], BUILTIN_DRIVERS["none"]) or mode in ("host", "none") \
                    or mode.startswith(modes.CONTAINER):
                raise errors.BadParameter("container cannot be disconnected from host network or connected to "
                                          "host network" if "host" in (mode, net["Driver"]) else
                                          f"container sharing network namespace with another container or host "
                                          f"cannot be connected to any other network ({mode})")
            settings = rec.setdefault("NetworkSettings", {"Networks": {}, "Ports": {}, "SandboxID": "",
                                                          "SandboxKey": ""})
            if net["Name"] in settings["Networks"]:
                raise errors.Forbidden(f"endpoint with name {rec['Name'].lstrip('/')} already exists in network "
                                       f"{net['Name']}")
            ep = {**bridge.endpoint_settings(config), "NetworkID": net["Id"]}
            bridge.check_addresses(net["Name"], ep)
            if not dns.running(rec):
                settings["Networks"][net["Name"]] = ep
                self.records.save(rec)
                return {}
            settings["Networks"][net["Name"]] = ep
            routed = any(e.get("Gateway") for e in settings["Networks"].values() if e is not ep)
            used = await asyncio.to_thread(links.names_in, settings["SandboxKey"])
            ifname = next(f"eth{n}" for n in range(len(used) + 1) if f"eth{n}" not in used)
            await self.bridges.plug(rec, net, ifname, route=not routed and not net["Internal"])
            # The record as it is now (its exit may have been recorded while the veth was
            # made), changed with no wait before it is saved.
            fresh = self.records.load(cid)
            if not dns.running(fresh) or fresh["State"]["Pid"] != rec["State"]["Pid"]:
                veth = self.bridges.release(rec, net["Name"])   # its namespace went with it
                fresh["NetworkSettings"]["Networks"][net["Name"]] = rec["NetworkSettings"]["Networks"][net["Name"]]
                self.records.save(fresh)
                self.bridges.remove_later(*[v for v in [veth] if v])
                return {}
            fresh["NetworkSettings"]["Networks"][net["Name"]] = rec["NetworkSettings"]["Networks"][net["Name"]]
            self.records.save(fresh)
            network_event(net, "connect", container=cid)
            self.bridges.write_files(fresh)
            await self.bridges.reforward(fresh)
        self.bridges.published(fresh)
        return {}

    async def disconnect(self, call: wire.Call) -> dict:
        net = self.networks.find(call.params["id"])
        cid = self.records.resolve(call.params["container"])
        async with self.records.lock(cid):
            rec = self.records.load(cid)
            nets = (rec.get("NetworkSettings") or {}).get("Networks") or {}
            name = next((n for n, ep in nets.items() if n == net["Name"] or ep.get("NetworkID") == net["Id"]), None)
            if name is None:
                raise errors.Forbidden(f"container {cid[:12]} is not connected to network {net['Name']}")
            if net["Driver"] != "bridge":
                raise errors.BadParameter("container cannot be disconnected from host network or connected to host "
                                          "network")
            veth = nets[name].get("EndpointID") and bridge.veth_name(nets[name])
            if veth:
                await asyncio.to_thread(links.remove, veth)
            fresh = self.records.load(cid)   # as it is now: changed with no wait before the save
            if name in fresh["NetworkSettings"]["Networks"]:
                self.bridges.release(fresh, name)
                del fresh["NetworkSettings"]["Networks"][name]
            self.records.save(fresh)
            network_event(net, "disconnect", container=cid)
            if dns.running(fresh) and fresh["NetworkSettings"].get("SandboxKey"):
                self.bridges.write_files(fresh)
                await self.bridges.reforward(fresh)
                # The default route went with the veth that had it: the next way out takes it.
                out = next((e for e in fresh["NetworkSettings"]["Networks"].values() if e.get("Gateway")), None)
                if out is not None:
                    await asyncio.to_thread(links.default_route, fresh["NetworkSettings"]["SandboxKey"], out["Gateway"])
        self.bridges.published({**fresh, "NetworkSettings": {"Networks": {name: {"NetworkID": net["Id"]}}}})
        return {}
