"""Legacy links on the default bridge (HostConfig.Links, `docker run --link db:alias`):
for each running container linked to, hosts entries and Docker's environment variables
(ALIAS_NAME, ALIAS_PORT_80_TCP..., ALIAS_ENV_<its env>), as dockerd's links give them.
"""

from __future__ import annotations

from services.common import errors

from ..records import Records
from .dns import DEFAULT_BRIDGE
from .ports import port_key

NOT_PASSED_ON = ("HOME", "PATH")   # of the target's environment


def normalized(links: list[str] | None, self_name: str) -> list[str] | None:
    """HostConfig.Links as Docker stores them: "/target:/self/alias" ("target:alias" and
    "target" are the forms clients send)."""
    out = []
    for link in links or []:
        target, _, alias = link.partition(":")
        target = target.strip("/")
        alias = alias.rsplit("/", 1)[-1] or target
        if not target:
            raise errors.BadParameter(f"invalid link {link!r}: it names no container")
        out.append(f"/{target}:/{self_name.strip('/')}/{alias}")
    return out or None


def split_name(name: str) -> tuple[str, str]:
    """A link's full name ("/web/db", or "web/db" as clients send it) as the name of the
    container that has the link and its alias; ("", name) for a container's own name."""
    parent, _, alias = ("/" + name.lstrip("/")).rpartition("/")
    return parent, alias


def alias_of(link: str) -> str:
    """The alias of one stored link ("/target:/self/alias")."""
    target, _, alias = link.partition(":")
    return alias.rsplit("/", 1)[-1] or target.strip("/")


def without(links: list[str] | None, alias: str) -> list[str] | None:
    """The links but the one of `alias` (Docker's rmLink)."""
    return [link for link in links or [] if alias_of(link) != alias] or None


def renamed(links: list[str] | None, old: str, new: str, own: bool) -> list[str] | None:
    """Links after the container `old` ("/name") was renamed `new`: a link to it follows it
    (Docker links to the container, not its name); with `own`, they are that container's
    own links, and their names ("/old/alias") become "/new/alias", as Docker renames them."""
    out = []
    for link in links or []:
        target, _, alias = link.partition(":")
        if target == old:
            target = new
        if own and alias.startswith(old + "/"):
            alias = new + alias[len(old):]
        out.append(f"{target}:{alias}")
    return out or None


def _targets(rec: dict, records: Records) -> list[tuple[str, dict, str]]:
    """(alias, target record, its address on the default bridge) of each running target."""
    out = []
    for link in rec["HostConfig"].get("Links") or []:
        target = link.partition(":")[0]
        try:
            other = records.find(target.strip("/"))
        except errors.NotFound:
            continue
        ep = ((other.get("NetworkSettings") or {}).get("Networks") or {}).get(DEFAULT_BRIDGE) or {}
        if other["State"]["Running"] and ep.get("IPAddress"):
            out.append((alias_of(link), other, ep["IPAddress"]))
    return out


def hosts_entries(rec: dict, records: Records) -> list[tuple[str, str]]:
    """(address, "alias target-hostname target-name") for its hosts file, as Docker's."""
    return [(address, " ".join(dict.fromkeys(n for n in (alias, other["Config"].get("Hostname"),
                                                         other["Name"].lstrip("/")) if n)))
            for alias, other, address in _targets(rec, records)]


def environment(rec: dict, records: Records) -> list[str]:
    """Docker's link environment variables."""
    env = []
    for alias, other, address in _targets(rec, records):
        prefix = alias.upper().replace("-", "_").replace(".", "_")
        env.append(f"{prefix}_NAME=/{rec['Name'].strip('/')}/{alias}")
        exposed = sorted(port_key(k) for k in (other["Config"].get("ExposedPorts") or {}))
        for number, (port, proto) in enumerate(exposed):
            url = f"{proto}://{address}:{port}"
            if number == 0:
                env.append(f"{prefix}_PORT={url}")
            key = f"{prefix}_PORT_{port}_{proto.upper()}"
            env += [f"{key}={url}", f"{key}_ADDR={address}", f"{key}_PORT={port}", f"{key}_PROTO={proto}"]
        for entry in other["Config"].get("Env") or []:
            name, _, value = entry.partition("=")
            if name not in NOT_PASSED_ON:
                env.append(f"{prefix}_ENV_{name}={value}")
    return env
