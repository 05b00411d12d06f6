"""The wire's volume methods, owned by the supervisor (DESIGN.md: it owns volumes). Declared
in the one schema's table (schema.METHODS), as every method; kept apart only for the schema
module's length. `wire/__init__` loads it with the schema.

A volume travels as `VOLUME`: Docker's shape (moby's volume.Volume): Name, Driver,
Mountpoint, CreatedAt, Scope, Options and Labels (objects, empty for none); UsageData only
where disk usage is asked for (GET /system/df). The api shapes it per version.
"""

from __future__ import annotations

from .schema import MapOf, Method, Opt, _declare

VOLUME = {
    "Name": str, "Driver": str, "Mountpoint": str, "CreatedAt": str, "Scope": str,
    "Options": MapOf(str), "Labels": MapOf(str),
    "UsageData": Opt({"Size": int, "RefCount": int}),
}
# The filters of Docker's volume list and prune (moby volume/service), each a list of values;
# `label_not` is Docker's `label!`, `all` the prune's (every unused volume, not only the
# anonymous ones). The api checks which an endpoint takes; the supervisor applies them.
VOLUME_FILTERS = {key: Opt([str]) for key in ("dangling", "name", "driver", "label", "label_not", "all")}
# POST /volumes/create's body, as Docker names its fields (volume.CreateOptions).
VOLUME_CREATE = {"Name": Opt(str), "Driver": Opt(str), "DriverOpts": Opt(MapOf(str)), "Labels": Opt(MapOf(str))}

_declare(Method("volume.create", "supervisor", params={"config": VOLUME_CREATE}, reply=VOLUME, timeout=30))
_declare(Method("volume.list", "supervisor", params={"filters": Opt(VOLUME_FILTERS)},
                reply={"volumes": [VOLUME], "warnings": [str]}))
_declare(Method("volume.inspect", "supervisor", params={"name": str}, reply=VOLUME))
# `force`: a volume that is not there is not an error (one in use still is).
_declare(Method("volume.remove", "supervisor", params={"name": str, "force": bool}, timeout=None))
_declare(Method("volume.prune", "supervisor", params={"filters": Opt(VOLUME_FILTERS)},
                reply={"deleted": [str], "space_reclaimed": int}, timeout=None))
# GET /system/df's volumes: the local ones with no options (what is mounted on the others
# holds no space here, as moby's LocalVolumesSize), each with its UsageData.
_declare(Method("volume.usage", "supervisor", reply={"volumes": [VOLUME]}, timeout=None))
