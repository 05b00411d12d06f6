"""A container's row in the modern container list: Docker's ContainerSummary of its record.

moby keeps this row ready for every container, made when the container is saved
(container/view.go), and its list reads the rows (daemon/list.go); only the Status words
("Up 3 minutes") are made at answer time. The supervisor does the same with `encoded`
and `row`, and answers the modern list with the rows as JSON; the api's shapes read the
same functions for what it shows from records (a list with sizes, /system/df), so both
answer alike. Every API version from 1.24 shows this row; v1.0's is the api's own.

A record's NetworkSettings holds Networks (name -> Docker's EndpointSettings) and Ports
("80/tcp" -> [{HostIp, HostPort}] or None); records made before networks have none.
"""

from __future__ import annotations

import json
import math
import re
import time

from .timefmt import human_duration, human_duration_holds, unix as unix_time

_PORT_NUMBER = re.compile(r"[0-9]+")
# The fields moby's container list copies of each endpoint (view.go); the others are left
# at their zero values, which Go writes as null, "" or 0.
_LIST_ENDPOINT_COPIED = ("MacAddress", "NetworkID", "EndpointID", "Gateway", "IPAddress", "IPPrefixLen",
                         "IPv6Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen")
_ENDPOINT_ZEROS = {"IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "", "NetworkID": "",
                   "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
                   "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DriverOpts": None, "DNSNames": None}
_MOUNT_KEYS = ("Type", "Name", "Source", "Destination", "Driver", "Mode", "RW", "Propagation")
_HEALTH_WORDS = {"starting": " (health: starting)", "healthy": " (healthy)", "unhealthy": " (unhealthy)"}
# The JSON the api answers with (services.api.system.json_response): no spaces.
_SEPARATORS = (",", ":")


def _settings_part(rec: dict, key: str) -> dict:
    settings = rec.get("NetworkSettings")
    value = settings.get(key) if isinstance(settings, dict) else None
    return value if isinstance(value, dict) else {}


def command(rec: dict) -> str:
    return " ".join([rec["Path"], *rec["Args"]])


def _parse_port(text) -> int | None:
    """nat.ParsePort: "" is 0, else a decimal uint16; None where Docker would skip it."""
    if text is None or text == "":
        return 0
    if not isinstance(text, str) or not _PORT_NUMBER.fullmatch(text) or int(text) > 0xFFFF:
        return None
    return int(text)


def ports(rec: dict) -> list[dict]:
    """The list's Ports from NetworkSettings.Ports, as moby's view.go builds them: a port
    without bindings once, with its number and protocol; each binding with its host address
    and port (both omitted when empty, as Docker's omitempty does). Docker's order is its
    map's (random); here by private port, then protocol, bindings in their order."""
    rows = []
    for key, bindings in _settings_part(rec, "Ports").items():
        number, _, proto = str(key).partition("/")
        private = _parse_port(number)
        if private is None:
            continue   # as Docker does with a malformed key (it logs and skips it)
        proto = proto or "tcp"
        if not bindings:
            rows.append({"PrivatePort": private, "Type": proto})
            continue
        for binding in bindings:
            binding = binding if isinstance(binding, dict) else {}
            public = _parse_port(binding.get("HostPort"))
            if public is None:
                continue
            row = {"IP": binding.get("HostIp") or "", "PrivatePort": private, "PublicPort": public,
                   "Type": proto}
            rows.append({k: v for k, v in row.items() if v or k in ("PrivatePort", "Type")})
    rows.sort(key=lambda row: (row["PrivatePort"], row["Type"]))
    return rows


def _endpoint(ep: dict) -> dict:
    out = dict(_ENDPOINT_ZEROS)
    out.update({key: ep[key] for key in _LIST_ENDPOINT_COPIED if ep.get(key) is not None})
    ipam = ep.get("IPAMConfig")
    if isinstance(ipam, dict):
        # EndpointIPAMConfig's fields are omitempty; the list copies the two addresses only.
        out["IPAMConfig"] = {key: ipam[key] for key in ("IPv4Address", "IPv6Address") if ipam.get(key)}
    return out


def network_settings(rec: dict) -> dict:
    """The list's NetworkSettings (moby's SummaryNetworkSettings)."""
    return {"Networks": {name: _endpoint(ep) for name, ep in _settings_part(rec, "Networks").items()
                         if isinstance(ep, dict)}}


def mounts(rec: dict) -> list[dict]:
    """Its mounts as inspect and the list show them (the record's Spec is its own)."""
    return [{k: m.get(k, "") for k in _MOUNT_KEYS if k in m} for m in rec.get("Mounts") or []]


def status_parts(state: dict) -> tuple[str, str, float | None]:
    """Docker's words for a container's state (State.String) as (before, after, since): at
    a moment `now` they are before + the span from `since` to `now` + after, or before +
    after when `since` is None (they stay the same as time passes)."""
    def timed(before: str, when: str, after: str) -> tuple[str, str, float | None]:
        if not when:
            return before + human_duration(0.0) + after, "", None
        return before, after, float(unix_time(when))
    if state["Running"] and state.get("Paused"):   # as Docker words it, whatever its health
        return timed("Up ", state["StartedAt"], " (Paused)")
    if state["Running"]:
        health = (state.get("Health") or {}).get("Status")
        return timed("Up ", state["StartedAt"], _HEALTH_WORDS.get(health, ""))
    if state["Status"] == "exited":
        return timed(f"Exited ({state['ExitCode']}) ", state["FinishedAt"], " ago")
    if state["Status"] == "restarting":  # as Docker words it
        return timed(f"Restarting ({state['ExitCode']}) ", state["FinishedAt"], " ago")
    return state["Status"].capitalize(), "", None


def _span(since: float, now: float | None) -> str:
    return human_duration(max(0.0, (time.time() if now is None else now) - since))


def status(state: dict, now: float | None = None) -> str:
    """Docker's words for a container's state at `now`."""
    before, after, since = status_parts(state)
    return before + after if since is None else before + _span(since, now) + after


def _before_status(rec: dict) -> dict:
    return {
        "Id": rec["Id"],
        "Names": [rec["Name"]],
        "Image": rec["Config"]["Image"],
        "ImageID": rec["Image"],
        "Command": command(rec),
        "Created": unix_time(rec["Created"]),
        "Ports": ports(rec),
        "Labels": rec["Config"].get("Labels") or {},
        "State": rec["State"]["Status"],
    }


def _after_status(rec: dict) -> dict:
    return {
        "HostConfig": {"NetworkMode": rec["HostConfig"].get("NetworkMode", "default")},
        "NetworkSettings": network_settings(rec),
        "Mounts": mounts(rec),
    }


def summary(rec: dict, now: float | None = None) -> dict:
    """The row, in Docker's field order."""
    return {**_before_status(rec), "Status": status(rec["State"], now), **_after_status(rec)}


def encoded(rec: dict) -> tuple[bytes, bytes]:
    """The row's JSON but for its Status: what comes before it (`{...`) and after (`...}`)."""
    head = json.dumps(_before_status(rec), separators=_SEPARATORS).encode()
    tail = json.dumps(_after_status(rec), separators=_SEPARATORS).encode()
    return head[:-1], tail[1:]


def pieces(rec: dict) -> tuple[bytes, bytes, float | None]:
    """The row's JSON as (before, after, since): at a moment `now` the row is before + the
    span of its Status words + after (`render`), or before + after when `since` is None."""
    head, tail = encoded(rec)
    before, after, since = status_parts(rec["State"])
    # (The span's words need no JSON escaping: letters, digits and spaces.)
    return (head + b',"Status":' + json.dumps(before).encode()[:-1],
            json.dumps(after).encode()[1:] + b"," + tail, since)


def render(before: bytes, after: bytes, since: float | None, now: float | None = None) -> bytes:
    """The row's JSON at `now` from `pieces`."""
    return before + after if since is None else before + _span(since, now).encode() + after


def holds(since: float | None, now: float) -> float:
    """How much longer, at least, a row rendered at `now` stays the same (inf: for ever)."""
    return math.inf if since is None else human_duration_holds(max(0.0, now - since))
