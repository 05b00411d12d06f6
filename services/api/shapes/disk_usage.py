"""GET /system/df (API 1.25 and up): moby's types.DiskUsage.

What each part needs arrives from the services (the registry's images and layer sizes, the
supervisor's containers with the size of their own layers and its volumes with UsageData,
the builder's cache); a part not asked for (API 1.42's `type`) is null, and LayersSize 0
unless images are asked for, as dockerd answers.
"""

from __future__ import annotations

from services.common import errors

from . import modern
from .volumes import volume

# API 1.42's `type` values (moby's types.DiskUsageObject) and the part each one fills.
OBJECT_TYPES = {"container": "Containers", "image": "Images", "volume": "Volumes", "build-cache": "BuildCache"}


def parts(types: list[str], api) -> set[str]:
    """Which parts to compute: all before API 1.42 or with no `type`; else the types named.
    An unknown type is a 400, as dockerd's "unknown object type"."""
    if not types or not api.at_least("1.42"):
        return set(OBJECT_TYPES.values())
    for typ in types:
        if typ not in OBJECT_TYPES:
            raise errors.BadParameter(f"unknown object type: {typ}")
    return {OBJECT_TYPES[t] for t in types}


def images(rows: list[dict], shared: dict[str, int], containers: list[dict], api) -> list[dict]:
    """The images (no intermediate ones) with SharedSize and how many containers use each."""
    users: dict[str, int] = {}
    for rec in containers:
        users[rec["Image"]] = users.get(rec["Image"], 0) + 1
    out = modern.image_list(rows, False, api)
    for row in out:
        row["Containers"], row["SharedSize"] = users.get(row["Id"], 0), shared.get(row["Id"], 0)
    return out


def image_sizes(images: list[dict]) -> dict[str, int]:
    """Image id -> its size, from the registry's image.list (all of them)."""
    return {i["id"]: i["size"] for i in images}


def with_sizes(rows: list[dict], records: list[dict], sizes: dict[str, int],
               images: dict[str, int]) -> list[dict]:
    """The container list's `rows` (of `records`) with SizeRw (their own layer) and SizeRootFs
    (that on top of their image's), -1 for what could not be measured, as moby's
    GetContainerLayerSize; as its JSON (omitempty), a size of 0 is left out."""
    for row, rec in zip(rows, records):
        rw = sizes.get(rec["Id"], -1)
        image_size = images.get(rec["Image"], 0)
        for key, value in (("SizeRw", rw), ("SizeRootFs", image_size + rw if rw >= 0 else image_size)):
            if value:
                row[key] = value
    return rows


def containers(records: list[dict], sizes: dict[str, int], images: dict[str, int], api) -> list[dict]:
    """The containers as the list shows them, with their sizes (with_sizes)."""
    return with_sizes(modern.container_list(records, api), records, sizes, images)


def build_cache(records: list[dict], api) -> list[dict]:
    out = []
    for entry in records:
        item = {"ID": entry["id"], "Type": "regular", "Description": entry["description"],
                "InUse": entry["in_use"], "Shared": False, "Size": entry["size"], "CreatedAt": entry["created"],
                "LastUsedAt": entry["last_used"], "UsageCount": entry["usage_count"]}
        if api.at_least("1.42"):
            item["Parents"] = [entry["parent"]] if entry["parent"] else None
        else:
            item["Parent"] = entry["parent"]
        out.append(item)
    return out


def disk_usage(got: dict, api) -> dict:
    """`got`: what was fetched, by part: "Images" {rows, layers_size, shared}, "Containers"
    {records, sizes, image_sizes}, "Volumes" [volume], "BuildCache" [record]; a part absent
    was not asked for."""
    out: dict = {"LayersSize": 0, "Images": None, "Containers": None, "Volumes": None, "BuildCache": None}
    if "Images" in got:
        g = got["Images"]
        out["LayersSize"] = g["layers_size"]
        out["Images"] = images(g["rows"], g["shared"], g["containers"], api)
    if "Containers" in got:
        g = got["Containers"]
        out["Containers"] = containers(g["records"], g["sizes"], g["image_sizes"], api)
    if "Volumes" in got:
        out["Volumes"] = [volume(v) for v in got["Volumes"]]
    if "BuildCache" in got:
        out["BuildCache"] = build_cache(got["BuildCache"], api)
        if not api.at_least("1.42"):
            size = sum(entry["size"] for entry in got["BuildCache"])
            if size:
                out["BuilderSize"] = size   # deprecated, still sent to older clients
    return out
