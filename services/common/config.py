"""The daemon's settings: defaults, the YAML config file, command-line overrides, checks.

Keys are named as in dockerd's daemon.json (`hosts`, `data-root`, `tlsverify`, ...).
`dockyardd` resolves them once and writes the result to `<exec-root>/daemon.json`,
which every service reads at start.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
from dataclasses import asdict, dataclass, field, fields
from urllib.parse import urlsplit

from . import logdrivers

DEFAULT_UNIX_SOCKET = "/run/dockyard/docker.sock"
DEFAULT_HOSTS = [f"unix://{DEFAULT_UNIX_SOCKET}", "tcp://127.0.0.1:2375"]
LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")
# The runtimes a container may run under (the daemon's `runtime`, HostConfig.Runtime): the
# built-in one, and Debian's runc on the same OCI bundle.
RUNTIMES = ("builtin", "runc")


def runtime_path(name: str) -> str:
    """What runs a container under the runtime `name` (as /info's Runtimes shows it)."""
    from . import runc  # (only the api asks, for /info)
    return runc.BINARY if name == "runc" else "dockyard-shim"
# Set in each service's environment: the pid of the supervisord it must not outlive.
SUPERVISORD_PID_ENV = "DOCKYARD_SUPERVISORD_PID"


def cgroup_path(parent: str, name: str) -> str:
    """`parent/name` below the cgroup root, as Docker's --cgroup-parent places containers.

    The parent may be written "/docker" or "docker"; it may not climb out of the root."""
    parts = [p for p in parent.split("/") if p not in ("", ".")]
    if not parts or ".." in parts or any(not p.isprintable() for p in parts):
        raise ValueError(f"cgroup parent {parent!r} must name a cgroup below the root, without '..'")
    return "/".join([*parts, name])


class ConfigError(Exception):
    """A setting dockyardd refuses to start with; the message is one line."""


@dataclass
class Settings:
    hosts: list[str] = field(default_factory=lambda: list(DEFAULT_HOSTS))
    data_root: str = "/var/lib/dockyard"
    exec_root: str = "/run/dockyard"
    log_level: str = "info"
    tlsverify: bool = False
    tlscacert: str | None = None
    tlscert: str | None = None
    tlskey: str | None = None
    runtime: str = "builtin"
    # The cgroup containers are placed under, as dockerd's --cgroup-parent ("/docker" there).
    cgroup_parent: str = "dockyard"
    # Group that may use the unix socket (mode 0660), as Docker's "docker" group.
    group: str = "docker"
    # Largest JSON request body the api reads; tar bodies stream and are not capped here.
    max_json_body: int = 1 << 20
    # Seconds the api waits for a service to answer an ordinary request.
    service_timeout: float = 5.0
    # The registry unqualified names (busybox, user/app) are pulled from, pushed to and
    # searched in; their local names stay as they are written.
    default_registry: str = "docker.io"
    # Registries reached over plain HTTP (loopback ones always are, as in Docker).
    insecure_registries: list[str] = field(default_factory=list)
    # Registries asked first for docker.io images (host[:port]), in order.
    registry_mirrors: list[str] = field(default_factory=list)
    # Caps on what a registry may send: a manifest or config, and a layer once decompressed.
    max_manifest_bytes: int = 4 << 20
    max_layer_bytes: int = 64 << 30
    # Cap on a build context, once decompressed (Dockerfiles are capped apart, at 10 MiB).
    max_build_context: int = 8 << 30
    # Networks, as dockerd's flags: the default bridge's link name (-b; its nft table is
    # named after it too), its gateway address and subnet (--bip), the part of it containers
    # get addresses from (--fixed-cidr), and the pools user-defined networks get subnets
    # from (--default-address-pool base=CIDR,size=N). Dockyard's own, apart from Docker's.
    bridge: str = "dockyard0"
    bip: str = "10.213.0.1/16"
    fixed_cidr: str = ""
    default_address_pools: list[str] = field(default_factory=lambda: ["base=10.214.0.0/15,size=24"])
    # The log driver and options of a container whose HostConfig.LogConfig names none, as
    # dockerd's log-driver and log-opts (services.common.logdrivers).
    log_driver: str = "json-file"
    log_opts: dict[str, str] = field(default_factory=dict)
    # Turn on the kernel's same-page merging (ksmd), so that the pages the forked services
    # and shims hold alike are kept once (services.kernel.page_merging); false leaves it as
    # the host has it.
    memory_merge: bool = True

    # -- loading

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name.replace("_", "-") for f in fields(cls)]

    @classmethod
    def from_file(cls, path: str) -> "Settings":
        import yaml  # only dockyardd reads YAML; services start without it
        try:
            with open(path) as fh:
                data = yaml.safe_load(fh)
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"config file {path} must hold a mapping of settings")
        return cls().update(data, source=path)

    def update(self, data: dict, source: str = "settings") -> "Settings":
        known = {f.name: f for f in fields(self)}
        for raw_key, value in data.items():
            key = str(raw_key).replace("-", "_")
            if key not in known:
                raise ConfigError(f"{source}: unknown setting {raw_key!r}")
            if value is None:
                if "None" in str(known[key].type):
                    setattr(self, key, None)
                continue
            setattr(self, key, _coerce(known[key].type, value, raw_key, source))
        return self

    @classmethod
    def from_runtime_file(cls, path: str) -> "Settings":
        with open(path) as fh:
            return cls().update(json.load(fh), source=path)

    def write_runtime_file(self, path: str) -> None:
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(asdict(self), fh, indent=2)
        os.replace(tmp, path)

    # -- checks

    @property
    def tls(self) -> bool:
        return bool(self.tlscert and self.tlskey) or self.tlsverify

    def validate(self) -> None:
        if not self.hosts:
            raise ConfigError("no host to listen on: give at least one -H")
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(f"log-level must be one of {', '.join(LOG_LEVELS)}, not {self.log_level!r}")
        if self.runtime not in RUNTIMES:
            raise ConfigError(f"runtime must be one of {', '.join(RUNTIMES)}, not {self.runtime!r}")
        for name in ("data_root", "exec_root"):
            if not os.path.isabs(getattr(self, name)):
                raise ConfigError(f"{name.replace('_', '-')} must be an absolute path")
        if self.tlsverify and not self.tlscacert:
            raise ConfigError("--tlsverify needs --tlscacert to check client certificates against")
        if self.tls and not (self.tlscert and self.tlskey):
            raise ConfigError("TLS needs both --tlscert and --tlskey")
        for name in ("tlscacert", "tlscert", "tlskey"):
            path = getattr(self, name)
            if path and not os.path.isfile(path):
                raise ConfigError(f"--{name} {path}: no such file")
        if min(self.max_json_body, self.service_timeout, self.max_manifest_bytes, self.max_layer_bytes,
               self.max_build_context) <= 0:
            raise ConfigError("max-json-body, service-timeout, max-manifest-bytes, max-layer-bytes and "
                              "max-build-context must be positive")
        try:
            cgroup_path(self.cgroup_parent, "")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self.address_pools()
        self.bridge_address()
        try:
            logdrivers.validate(self.log_driver, self.log_opts)
        except logdrivers.LogConfigError as exc:
            raise ConfigError(f"failed to set log opts: {exc}") from None
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]{0,14}", self.bridge):
            raise ConfigError(f"bridge {self.bridge!r}: a link name of 1 to 15 letters, digits, '_', '.' or '-', "
                              "starting with a letter (its firewall table is named after it)")
        for host in self.hosts:
            h = parse_host(host, self.tls)
            if h.scheme == "tcp" and not self.tls and not h.loopback:
                raise ConfigError(
                    f"refusing to listen on {host} without TLS: anyone who can reach it gets root "
                    "on this host; use a loopback address or --tlsverify with --tlscert/--tlskey")


    def address_pools(self) -> list[tuple[str, int]]:
        """The default address pools as (base, size): from `base=10.214.0.0/15,size=24`."""
        pools = []
        for text in self.default_address_pools:
            fields_ = dict(part.partition("=")[::2] for part in text.split(","))
            try:
                base = ipaddress.IPv4Network(fields_["base"], strict=False)
                size = int(fields_["size"])
            except (KeyError, ValueError):
                raise ConfigError(f"default-address-pool {text!r}: write it as base=<IPv4 CIDR>,size=<prefix length>")
            if not base.prefixlen <= size <= 30:
                raise ConfigError(f"default-address-pool {text!r}: size must be between {base.prefixlen} and 30")
            pools.append((str(base), size))
        return pools

    def bridge_address(self) -> tuple[ipaddress.IPv4Interface, ipaddress.IPv4Network | None]:
        """The default bridge's gateway (with its subnet) and the range containers get (--fixed-cidr)."""
        try:
            gateway = ipaddress.IPv4Interface(self.bip)
            fixed = ipaddress.IPv4Network(self.fixed_cidr, strict=False) if self.fixed_cidr else None
        except ValueError as exc:
            raise ConfigError(f"bip {self.bip!r} or fixed-cidr {self.fixed_cidr!r}: {exc}") from None
        if gateway.network.prefixlen > 30:
            raise ConfigError(f"bip {self.bip}: the subnet has no room for containers")
        if fixed is not None and not fixed.subnet_of(gateway.network):
            raise ConfigError(f"fixed-cidr {self.fixed_cidr} is not inside the bridge's subnet {gateway.network}")
        return gateway, fixed


def _coerce(typ: object, value: object, key: str, source: str) -> object:
    text = str(typ)
    if "dict" in text:   # a map of strings; on the command line, key=value strings
        if isinstance(value, list) and all(isinstance(v, str) and "=" in v for v in value):
            value = dict(v.split("=", 1) for v in value)
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                  for k, v in value.items()):
            raise ConfigError(f"{source}: {key} must be a map of strings (key=value on the command line)")
        return value
    if "list" in text:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{source}: {key} must be a list of strings")
        return value
    if "bool" in text:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {key} must be true or false")
        return value
    if text in ("int",):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: {key} must be an integer")
        return value
    if text in ("float",):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: {key} must be a number")
        return float(value)
    if not isinstance(value, str):
        raise ConfigError(f"{source}: {key} must be a string")
    return value


@dataclass(frozen=True)
class Host:
    scheme: str        # "unix" or "tcp"
    path: str = ""     # unix
    host: str = ""     # tcp
    port: int = 0      # tcp

    @property
    def loopback(self) -> bool:
        if self.scheme != "tcp":
            return True
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            try:
                infos = socket.getaddrinfo(self.host, None)
            except OSError:
                return False
            return all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)

    def __str__(self) -> str:
        if self.scheme == "unix":
            return f"unix://{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"


def parse_host(text: str, tls: bool = False) -> Host:
    """Parse a -H value the way dockerd does (unix://path, tcp://host:port)."""
    if "://" not in text:
        raise ConfigError(f"invalid host {text!r}: expected unix:///path or tcp://host:port")
    parts = urlsplit(text)
    if parts.scheme == "unix":
        path = (parts.netloc + parts.path) or DEFAULT_UNIX_SOCKET
        if not os.path.isabs(path):
            raise ConfigError(f"invalid host {text!r}: a unix socket path must be absolute")
        return Host("unix", path=path)
    if parts.scheme == "tcp":
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(f"invalid host {text!r}: bad port") from None
        if parts.path not in ("", "/"):
            raise ConfigError(f"invalid host {text!r}: a tcp address takes no path")
        host = parts.hostname or "127.0.0.1"
        return Host("tcp", host=host, port=port if port is not None else (2376 if tls else 2375))
    raise ConfigError(f"invalid host {text!r}: only unix:// and tcp:// are supported")
