"""A container's network mode (HostConfig.NetworkMode), as Docker names them, and what its
bundle gets for it at each start:

    default, bridge   a namespace of its own with an endpoint on the default bridge
    <network>         a namespace of its own with an endpoint on that network (and others
                      NetworkingConfig or a connect adds): networks.bridge wires them
    none              a network namespace of its own, with only its loopback
    host              the host's network namespace, and the host's name and hosts file
    container:<id>    another running container's network namespace, hosts, resolv.conf
                      and hostname files
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.common import container_files, errors

from ..records import Records

OWN = ("default", "bridge", "none")
HOST = "host"
CONTAINER = "container:"


def check(mode: str) -> None:
    """Refuse a mode no container could have. (Whether the network or container it names
    is there is asked at each start, as Docker asks: the docker CLI takes a 404 at create
    for a missing image, and would try to pull it.)"""
    if mode == CONTAINER:
        raise errors.BadParameter("invalid network mode: container: names no container")


@dataclass
class Joined:
    """What a start gets for its network mode: the OCI network namespace entry (None: the
    host's, no namespace of its own), the files bound at /etc/hosts, resolv.conf and
    hostname (None: its own), and environment variables of its links."""
    namespace: dict | None
    files: dict | None = None
    env: list[str] = field(default_factory=list)   # its legacy links' variables


def settings_at_create(host: dict, networking: dict | None, find) -> dict:
    """A new container's NetworkSettings: an endpoint's configuration on each network it is
    to join (its mode's, then those NetworkingConfig adds), keyed by the network's name
    (`find` looks a network up; one not there yet is looked for again at each start)."""
    from .bridge import check_addresses, endpoint_settings
    mode = host.get("NetworkMode") or "default"
    # "default" is the default bridge's other name (the docker CLI sends it).
    configs = {("bridge" if name == "default" else name): config
               for name, config in ((networking or {}).get("EndpointsConfig") or {}).items()}
    wanted = [] if mode.startswith(CONTAINER) else ["bridge" if mode == "default" else mode]
    wanted += [name for name in configs if name not in wanted]
    networks = {}
    for ref in wanted:
        config = configs.get(ref)
        try:
            net = find(ref)
        except errors.NotFound:
            networks[ref] = endpoint_settings(config)
            continue
        networks[net["Name"]] = {**endpoint_settings(config), "NetworkID": net["Id"]}
    for name, endpoint in networks.items():
        check_addresses(name, endpoint)
    if (HOST in networks or "none" in networks) and len(networks) > 1:
        raise errors.BadParameter("conflicting options: a container on the host's network or on none cannot "
                                  "be connected to other networks")
    return {"Networks": networks, "Ports": {}, "SandboxID": "", "SandboxKey": ""}


def joins(rec: dict) -> str:
    """The container whose namespace this one's mode joins, as its mode names it ("": none)."""
    mode = rec["HostConfig"].get("NetworkMode") or ""
    return mode[len(CONTAINER):] if mode.startswith(CONTAINER) else ""


def at_start(rec: dict, records: Records, data_root: str) -> Joined | None:
    """What the container joins at its start for a mode of the host's, another container's
    or none; None for bridge networks (the bridge driver wires those)."""
    mode = rec["HostConfig"].get("NetworkMode") or "default"
    if mode == HOST:
        return Joined(None)
    if mode == "none":
        return Joined({"type": "network"})
    if not mode.startswith(CONTAINER):
        return None
    target = records.find(mode[len(CONTAINER):])
    if not target["State"]["Running"]:
        raise errors.Conflict(f"cannot join network of a non running container: {target['Id']}")
    if target["Id"] == rec["Id"]:
        raise errors.BadParameter("cannot join own network")
    paths = container_files.paths(data_root, target["Id"])
    return Joined({"type": "network", "path": f"/proc/{target['State']['Pid']}/ns/net"},
                  {name: paths[name] for name in ("hosts", "resolv", "hostname")})
