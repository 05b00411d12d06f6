"""Network shapes (Engine API 1.21 and up), and the network parts of the container shapes
of every version.

Networks came with API 1.21, after v1.0: an unprefixed request (v1.0 for every older
route) is answered as dockerd answers it, at the newest version. A network arrives from
the supervisor in Docker's inspect shape (wire NETWORK); only Docker's keys are shown, in
Docker's order (moby's NetworkResource), whatever else a record carries.

A container record's NetworkSettings holds Networks (name -> Docker's EndpointSettings),
Ports ("80/tcp" -> [{HostIp, HostPort}] or None), SandboxID and SandboxKey; records made
before networks have none, and every function here reads them as empty.
"""

from __future__ import annotations

from services.common import container_summary

# moby's NetworkResource, in its field order; Peers and Services are omitempty (swarm).
_NETWORK_KEYS = ("Name", "Id", "Created", "Scope", "Driver", "EnableIPv6", "IPAM", "Internal",
                 "Attachable", "Ingress", "ConfigFrom", "ConfigOnly", "Containers", "Options", "Labels")
_NETWORK_OMITEMPTY = ("Peers", "Services")
# Docker's predefined networks: aliases of a container on any other network are user-defined.
_PREDEFINED = ("bridge", "host", "none", "default")
# Where the fields Docker fills from the default bridge's endpoint come from, and their zero.
_BRIDGE_DEFAULTS = (("EndpointID", ""), ("Gateway", ""), ("GlobalIPv6Address", ""), ("GlobalIPv6PrefixLen", 0),
                    ("IPAddress", ""), ("IPPrefixLen", 0), ("IPv6Gateway", ""), ("MacAddress", ""))


def _newest(api) -> bool:
    """Whether the request is answered at the newest version (unprefixed is, here)."""
    return api.legacy or api.at_least("1.45")


def network(net: dict, api) -> dict:
    """GET /networks/{id}: the network with its containers' endpoints."""
    out = {key: net.get(key) for key in _NETWORK_KEYS}
    out["Containers"] = net.get("Containers") or {}
    out.update({key: net[key] for key in _NETWORK_OMITEMPTY if net.get(key)})
    return out


def network_list(nets: list[dict], api) -> list[dict]:
    """GET /networks: since API 1.28 without the containers (the spec: "the list of
    containers attached to the network is not propagated in API versions 1.28 and up")."""
    without_containers = api.legacy or api.at_least("1.28")
    rows = [network(net, api) for net in nets]
    if without_containers:
        for row in rows:
            row["Containers"] = {}
    return rows


def network_created(result: dict) -> dict:
    return {"Id": result["id"], "Warning": result["warning"]}


def networks_pruned(deleted: list[str]) -> dict:
    # NetworksDeleted has no omitempty in moby: null when nothing was removed.
    return {"NetworksDeleted": deleted or None}


# -------------------------------------------------- container network settings

def settings(rec: dict) -> dict:
    """A record's NetworkSettings, empty for a record made before networks."""
    value = rec.get("NetworkSettings")
    return value if isinstance(value, dict) else {}


def endpoints(rec: dict) -> dict:
    value = settings(rec).get("Networks")
    return value if isinstance(value, dict) else {}


def port_map(rec: dict) -> dict:
    value = settings(rec).get("Ports")
    return value if isinstance(value, dict) else {}


def bridge_endpoint(rec: dict) -> dict:
    """The endpoint on the network named "bridge", from which Docker fills the deprecated
    top-level fields of NetworkSettings (daemon.getDefaultNetworkSettings); {} if none."""
    value = endpoints(rec).get("bridge")
    return value if isinstance(value, dict) else {}


def _dedup(items: list) -> list:
    return list(dict.fromkeys(items))


def _inspect_endpoints(rec: dict, api) -> dict:
    """Networks as inspect shows them. Before API 1.45 Docker also lists the short id and the
    hostname among the aliases on a user-defined network (since, they are in DNSNames)."""
    networks = {name: dict(ep) if isinstance(ep, dict) else ep for name, ep in endpoints(rec).items()}
    if _newest(api):
        return networks
    hostname = (rec.get("Config") or {}).get("Hostname")
    extra = [rec["Id"][:12], *([hostname] if hostname else [])]
    for name, ep in networks.items():
        if isinstance(ep, dict) and name not in _PREDEFINED and not name.startswith("container:"):
            ep["Aliases"] = _dedup([*(ep.get("Aliases") or []), *extra])
    return networks


def inspect_settings(rec: dict, api) -> dict:
    """A container inspect's NetworkSettings, as Docker 25 and up shows it (moby's
    NetworkSettingsBase, DefaultNetworkSettings, Networks, in their field order)."""
    own = settings(rec)
    bridge = bridge_endpoint(rec)
    return {
        "Bridge": own.get("Bridge") or "",
        "SandboxID": own.get("SandboxID") or "",
        "SandboxKey": own.get("SandboxKey") or "",
        "Ports": dict(port_map(rec)),
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        **{key: bridge.get(key) or zero for key, zero in _BRIDGE_DEFAULTS},
        "Networks": _inspect_endpoints(rec, api),
    }


def list_ports(rec: dict) -> list[dict]:
    """The container list's Ports (services.common.container_summary.ports)."""
    return container_summary.ports(rec)


def list_settings(rec: dict) -> dict:
    """The container list's NetworkSettings (moby's SummaryNetworkSettings)."""
    return container_summary.network_settings(rec)


def legacy_settings(rec: dict) -> dict:
    """v1.0's NetworkSettings, from the default bridge's endpoint as the spec names them.
    PortMapping stays null: the spec shows no other value, and its later forms differ."""
    bridge = bridge_endpoint(rec)
    return {"IpAddress": bridge.get("IPAddress") or "", "IpPrefixLen": bridge.get("IPPrefixLen") or 0,
            "Gateway": bridge.get("Gateway") or "", "Bridge": settings(rec).get("Bridge") or "",
            "PortMapping": None}
