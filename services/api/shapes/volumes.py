"""Volume shapes (Engine API 1.21 and up; the same at every version that has volumes).

A volume arrives from the supervisor in Docker's shape (wire VOLUME); it is answered with
Docker's keys in moby's order (volume.Volume), UsageData only where it was filled in.
"""

from __future__ import annotations

_KEYS = ("CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options", "Scope")


def volume(vol: dict) -> dict:
    out = {key: vol.get(key) for key in _KEYS}
    out["Labels"] = vol.get("Labels") or {}
    out["Options"] = vol.get("Options") or {}
    if vol.get("UsageData") is not None:
        out["UsageData"] = vol["UsageData"]
    return out


def volume_list(volumes: list[dict], warnings: list[str]) -> dict:
    """GET /volumes (moby's volume.ListResponse)."""
    return {"Volumes": [volume(v) for v in volumes], "Warnings": list(warnings)}


def volumes_pruned(deleted: list[str], space_reclaimed: int) -> dict:
    """POST /volumes/prune (moby's volume.PruneReport)."""
    return {"VolumesDeleted": list(deleted), "SpaceReclaimed": space_reclaimed}
