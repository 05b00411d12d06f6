"""The wire's network methods, owned by the supervisor (DESIGN.md: it owns networks).
Declared in the one schema's table (schema.METHODS), as every method; kept apart only for
the schema module's length. `wire/__init__` loads it with the schema.

A network travels as `NETWORK`: Docker's inspect shape (Name, Id, Created, Scope, Driver,
EnableIPv6, IPAM, Internal, Attachable, Ingress, ConfigFrom, ConfigOnly, Containers,
Options, Labels), `Containers` filled with the running containers' endpoints. The api
shapes it per version.
"""

from __future__ import annotations

from .schema import ANY, MapOf, Method, Opt, _declare

NETWORK = {
    "Name": str, "Id": str, "Created": str, "Scope": str, "Driver": str, "EnableIPv6": bool,
    "IPAM": {"Driver": str, "Options": Opt(MapOf(str)), "Config": [MapOf(ANY)]},
    "Internal": bool, "Attachable": bool, "Ingress": bool, "ConfigFrom": {"Network": str}, "ConfigOnly": bool,
    "Containers": MapOf({"Name": str, "EndpointID": str, "MacAddress": str, "IPv4Address": str,
                         "IPv6Address": str}),
    "Options": MapOf(str), "Labels": MapOf(str),
}
# The filters of Docker's network list and prune, each a list of values (`label_not` is
# Docker's `label!`); the api checks their names, the supervisor applies them.
NETWORK_FILTERS = {key: Opt([str]) for key in ("name", "id", "driver", "label", "label_not", "type",
                                                 "dangling", "until")}
# POST /networks/create's body, as Docker names its fields (NetworkCreateRequest).
NETWORK_CREATE = {
    "Name": str, "CheckDuplicate": Opt(bool), "Driver": Opt(str), "Scope": Opt(str), "Internal": Opt(bool),
    "Attachable": Opt(bool), "Ingress": Opt(bool), "EnableIPv6": Opt(bool), "ConfigOnly": Opt(bool),
    "ConfigFrom": Opt(ANY), "IPAM": Opt(ANY), "Options": Opt(MapOf(str)), "Labels": Opt(MapOf(str)),
}

_declare(Method("network.create", "supervisor", params={"config": NETWORK_CREATE},
                reply={"id": str, "warning": str}, timeout=30))
_declare(Method("network.list", "supervisor", params={"filters": Opt(NETWORK_FILTERS)},
                reply={"networks": [NETWORK]}))
_declare(Method("network.inspect", "supervisor", params={"id": str}, reply=NETWORK))
_declare(Method("network.remove", "supervisor", params={"id": str}, timeout=30))
# EndpointConfig as Docker's EndpointSettings (IPAMConfig, Links, Aliases, MacAddress,
# DriverOpts...): checked by the supervisor.
_declare(Method("network.connect", "supervisor",
                params={"id": str, "container": str, "endpoint_config": Opt(ANY)}, timeout=30))
_declare(Method("network.disconnect", "supervisor",
                params={"id": str, "container": str, "force": bool}, timeout=30))
_declare(Method("network.prune", "supervisor", params={"filters": Opt(NETWORK_FILTERS)},
                reply={"deleted": [str]}, timeout=60))
