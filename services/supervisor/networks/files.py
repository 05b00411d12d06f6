"""The network files a container gets, as Docker writes them per network mode: /etc/hosts
(its own name and address, ExtraHosts with `host-gateway`, its links) and
/etc/resolv.conf (the host's resolvers on the default bridge, the embedded resolver at
127.0.0.11 on a user-defined network, the host's own file on the host's network), and the
resolvers the embedded one forwards other names to.
"""

from __future__ import annotations

import ipaddress
import os

from services.common import errors

EMBEDDED_DNS = "127.0.0.11"
GOOGLE_DNS = ["8.8.8.8", "8.8.4.4"]   # Docker's fallback when the host has only loopback resolvers
HOST_GATEWAY = "host-gateway"
HOST_RESOLV_CONF = "/etc/resolv.conf"
SYSTEMD_RESOLV_CONF = "/run/systemd/resolve/resolv.conf"   # systemd-resolved's upstream resolvers
LOCALHOST = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
             "ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")


def extra_host(entry: str) -> tuple[str, str]:
    """An ExtraHosts entry, `name:address` (or `name=address`), as (name, address): Docker's
    forms; the address may be IPv6 (only the first separator splits) or `host-gateway`."""
    sep = "=" if "=" in entry else ":"
    name, _, address = entry.partition(sep)
    address = address.strip("[]")
    if address != HOST_GATEWAY:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise errors.BadParameter(f"invalid IP address in add-host: {address!r}") from None
    if not name or any(c.isspace() for c in name):
        raise errors.BadParameter(f"invalid host name in add-host: {entry!r}")
    return name, address


def _read(path: str) -> str:
    try:
        with open(path) as fh:
            text = fh.read()
    except OSError:
        return ""
    return text if text.endswith("\n") or not text else text + "\n"


def hosts(hostname: str, extra_hosts: list[str] | None, gateway: str, own: list[str],
          links: list[tuple[str, str]] = (), host_network: bool = False) -> str:
    """/etc/hosts: the host's own on its network; else localhost, the extra hosts
    (`host-gateway`: `gateway`), the links (address, names) and the container's own
    addresses `own` (127.0.0.1 with none) under its hostname."""
    extra = ""
    for name, address in map(extra_host, extra_hosts or []):
        extra += f"{gateway if address == HOST_GATEWAY else address}\t{name}\n"
    if host_network:
        return _read("/etc/hosts") + extra
    linked = "".join(f"{address}\t{names}\n" for address, names in links)
    mine = "".join(f"{address}\t{hostname}\n" for address in own or ["127.0.0.1"])
    return LOCALHOST + extra + linked + mine


def host_resolvers(path: str = HOST_RESOLV_CONF) -> tuple[list[str], list[str], list[str]]:
    """The host's nameservers, search domains and options."""
    servers, search, options = [], [], []
    for line in _read(path).splitlines():
        words = line.split()
        if not words or words[0].startswith(("#", ";")):
            continue
        if words[0] == "nameserver" and len(words) > 1:
            servers.append(words[1])
        elif words[0] in ("search", "domain"):
            search = words[1:]
        elif words[0] == "options":
            options += words[1:]
    return servers, search, options


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def resolv_conf(host_config: dict, embedded: bool, path: str = HOST_RESOLV_CONF) -> str:
    """/etc/resolv.conf for a network namespace of the container's own: Dns, DnsSearch and
    DnsOptions over the host's; on a user-defined network the embedded resolver answers
    (and forwards to the others), with ndots:0 as Docker's."""
    servers, search, options = host_resolvers(path)
    search = host_config.get("DnsSearch") or search
    options = host_config.get("DnsOptions") or options
    if embedded:
        servers = [EMBEDDED_DNS]
        if not any(o.startswith("ndots:") for o in options):   # a user's own ndots is kept
            options = [*options, "ndots:0"]
    else:
        if servers and all(_loopback(s) for s in servers) and path == HOST_RESOLV_CONF \
                and os.path.exists(SYSTEMD_RESOLV_CONF):
            # systemd-resolved's stub (127.0.0.53): the resolvers behind it, as Docker reads them.
            servers = host_resolvers(SYSTEMD_RESOLV_CONF)[0]
        # Containers have IPv4 only: loopback and IPv6 resolvers are out of their reach.
        servers = host_config.get("Dns") or [s for s in servers if not _loopback(s) and ":" not in s] \
            or GOOGLE_DNS
    text = "".join(f"nameserver {s}\n" for s in servers)
    if search:
        text += f"search {' '.join(search)}\n"
    if options:
        text += f"options {' '.join(options)}\n"
    return text


def upstream(host_config: dict, path: str = HOST_RESOLV_CONF) -> list[str]:
    """Where the embedded resolver sends names it does not know: Dns, else the host's
    resolvers (loopback ones too: it forwards from the host's namespace)."""
    return list(host_config.get("Dns") or host_resolvers(path)[0])


def write(path: str, text: str) -> None:
    """Replace the file's content in place: the container has it bound, so the inode stays."""
    with open(path, "a+") as fh:
        fh.seek(0)
        if fh.read() == text:
            return
        fh.seek(0)
        fh.truncate()
        fh.write(text)
    os.utime(path)


def user_defined(mode: str) -> bool:
    """Whether a network mode names a user-defined network (whose containers ask the
    embedded resolver)."""
    return mode not in ("default", "bridge", "none", "host") and not mode.startswith("container:")


def write_all(d: dict, rec: dict, gateway: str = "", own: list[str] = (), links: list[tuple[str, str]] = (),
              embedded: bool | None = None) -> None:
    """The container's hostname, hosts and resolv.conf files (paths `d`), for its record as
    it is; on the host's network the host's hosts and resolv.conf."""
    config, host = rec["Config"], rec["HostConfig"]
    mode = host.get("NetworkMode") or "default"
    on_host = mode == "host"
    with open(d["hostname"], "w") as fh:
        fh.write(config["Hostname"] + "\n")
    # Docker's own line names the full name first, then the bare hostname.
    names = f"{config['Hostname']}.{config['Domainname']} {config['Hostname']}" if config.get("Domainname") \
        else config["Hostname"]
    write(d["hosts"], hosts(names, host.get("ExtraHosts"), gateway, list(own), list(links), on_host))
    if embedded is None:
        embedded = user_defined(mode)
    write(d["resolv"], _read(HOST_RESOLV_CONF) if on_host and not host.get("Dns")
          else resolv_conf(host, embedded))
