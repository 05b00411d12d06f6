"""What the embedded DNS of each container answers, as Docker's resolver at 127.0.0.11
does on user-defined networks: every running container of its networks by name, network
alias, short id and hostname (and each of those `.<network>`), several containers under
one alias all answering; names of other networks are not there. The supervisor writes a
container's table to its names.json; its shim serves it (services.shim.dns), so answers
go on while the supervisor restarts.
"""

from __future__ import annotations

import json
import os

from services.common import container_files

from . import files

DEFAULT_BRIDGE = "bridge"   # the default bridge has no embedded DNS (Docker's legacy links instead)


def dns_names(rec: dict, endpoint: dict) -> list[str]:
    """An endpoint's DNSNames: the container's name, its aliases there, its short id and
    its hostname (Docker's order, no repeats)."""
    names = [rec["Name"].lstrip("/"), *(endpoint.get("Aliases") or []), rec["Id"][:12],
             rec["Config"].get("Hostname") or ""]
    return list(dict.fromkeys(n for n in names if n))


def running(rec: dict) -> bool:
    return rec["State"]["Running"] or rec["State"].get("Paused", False)


def table(rec: dict, others: list[dict]) -> dict[str, list[str]]:
    """Names -> addresses for the container of `rec`, from its user-defined networks and
    the running containers (`others`, itself among them or not) on them."""
    mine = {ep.get("NetworkID"): name for name, ep in (rec.get("NetworkSettings") or {}).get("Networks", {}).items()
            if name != DEFAULT_BRIDGE and ep.get("NetworkID") and ep.get("IPAddress")}
    out: dict[str, list[str]] = {}
    peers = {other["Id"]: other for other in others if running(other)}
    peers[rec["Id"]] = rec
    for peer in peers.values():
        for name, ep in (peer.get("NetworkSettings") or {}).get("Networks", {}).items():
            network = mine.get(ep.get("NetworkID"))
            if network is None or not ep.get("IPAddress"):
                continue
            names = dns_names(peer, ep) + _linked_as(rec, network, peer)
            addresses = [ep["IPAddress"], *([ep["GlobalIPv6Address"]] if ep.get("GlobalIPv6Address") else [])]
            for dns_name in names:
                for key in (dns_name.lower(), f"{dns_name}.{network}".lower()):
                    known = out.setdefault(key, [])
                    known += [a for a in addresses if a not in known]
    return out


def _linked_as(rec: dict, network: str, peer: dict) -> list[str]:
    """The aliases `rec`'s endpoint on `network` links `peer` under (EndpointConfig.Links,
    "name:alias" or "name": names only `rec` resolves, as Docker's links on user-defined
    networks)."""
    ep = rec["NetworkSettings"]["Networks"].get(network) or {}
    out = []
    for link in ep.get("Links") or []:
        target, _, alias = link.partition(":")
        target = target.strip("/")
        if target in (peer["Name"].lstrip("/"), peer["Id"]) or (len(target) >= 12 and peer["Id"].startswith(target)):
            out.append(alias.rsplit("/", 1)[-1] or target)
    return out


def embedded(rec: dict) -> bool:
    """Whether the container asks the embedded resolver: it is on a user-defined network."""
    return any(name != DEFAULT_BRIDGE for name in (rec.get("NetworkSettings") or {}).get("Networks", {})
               if name not in ("host", "none"))


def write(data_root: str, rec: dict, others: list[dict]) -> None:
    """The container's names.json (atomically: its shim may be reading it)."""
    path = container_files.paths(data_root, rec["Id"])["names"]
    body = {"records": table(rec, others), "upstream": files.upstream(rec["HostConfig"])}
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(body, fh)
    os.replace(tmp, path)


def publish(data_root: str, records: list[dict], network_ids: set[str]) -> None:
    """Rewrite the tables of the running containers on any of `network_ids` (after one of
    them started, stopped, connected or disconnected)."""
    for rec in records:
        if not running(rec) or not embedded(rec):
            continue
        on = {ep.get("NetworkID") for ep in rec["NetworkSettings"]["Networks"].values()}
        if on & network_ids and os.path.isdir(container_files.container_dir(data_root, rec["Id"])):
            write(data_root, rec, records)
