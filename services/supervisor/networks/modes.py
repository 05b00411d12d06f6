"""A container's network mode (HostConfig.NetworkMode), as Docker names them, and what its
bundle gets for it at each start:

    default, bridge   a network namespace of its own (its bridge endpoint: issue 11)
    none              a network namespace of its own, with only its loopback
    host              the host's network namespace, and the host's name and hosts file
    container:<id>    another running container's network namespace, hosts, resolv.conf
                      and hostname files
"""

from __future__ import annotations

from dataclasses import dataclass

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
    host's, no namespace of its own), and the files bound at /etc/hosts, resolv.conf and
    hostname (None: its own)."""
    namespace: dict | None
    files: dict | None = None


def at_start(rec: dict, records: Records, data_root: str) -> Joined:
    mode = rec["HostConfig"].get("NetworkMode") or "default"
    if mode == HOST:
        return Joined(None)
    if mode in OWN:
        return Joined({"type": "network"})
    if not mode.startswith(CONTAINER):
        raise errors.NotFound(f"network {mode} not found")
    target = records.find(mode[len(CONTAINER):])
    if not target["State"]["Running"]:
        raise errors.Conflict(f"cannot join network of a non running container: {target['Id']}")
    if target["Id"] == rec["Id"]:
        raise errors.BadParameter("cannot join own network")
    paths = container_files.paths(data_root, target["Id"])
    return Joined({"type": "network", "path": f"/proc/{target['State']['Pid']}/ns/net"},
                  {name: paths[name] for name in ("hosts", "resolv", "hostname")})
