"""A container's mounts: volumes (named and anonymous), bind mounts, tmpfs mounts and VolumesFrom.

Create turns Docker's Volumes (the body's and the image's), HostConfig.Binds, Mounts and
VolumesFrom into the record's Mounts (spec.mount_specs reads and checks them; the bundle
mounts each into the container); a volume it names is made if it is not there yet (by the
volume store, with the local driver, the only one there is, and a Mounts entry's driver
options and labels). Removal with `v` takes the container's anonymous volumes with it, but
those another container uses too (through VolumesFrom), as Docker does.
"""

from __future__ import annotations

import copy
import logging
import os
import shutil

from services.common import errors

from .records import Records
from .spec import mount_specs, str_list
from .volume_store import VolumeStore, check_driver, check_options, references

log = logging.getLogger("supervisor")


class Mounts:
    def __init__(self, volumes: VolumeStore, records: Records):
        self.volumes = volumes
        self.records = records

    @staticmethod
    def _volume_options(mp: dict) -> tuple[dict | None, dict | None]:
        """A volume mount point's driver options and labels (a Mounts entry's VolumeOptions)."""
        volume_options = (mp.get("Spec") or {}).get("VolumeOptions") or {}
        return (volume_options.get("DriverConfig") or {}).get("Options"), volume_options.get("Labels")

    def _inherited(self, config: dict, host: dict) -> list[dict]:
        """VolumesFrom's mount points: another container's, read-only if it says `ro`."""
        sources = list(str_list(host.get("VolumesFrom"), "VolumesFrom") or [])
        if config.get("VolumesFrom"):   # v1.0's, in the config
            sources.append(str(config["VolumesFrom"]))
        out = []
        for source in sources:
            ref, _, mode = source.partition(":")
            if not ref or mode not in ("", "ro", "rw"):
                raise errors.BadParameter(f"invalid mode: {mode}" if ref else
                                          "volumes-from specification cannot be an empty string")
            other = self.records.find(ref)
            for m in other.get("Mounts") or []:
                mp = {**copy.deepcopy(m), "RW": m.get("RW", True) and mode != "ro"}
                if mp["Type"] == "volume":   # another's volume is never filled again (Docker: CopyData false)
                    mp["Spec"] = {**(mp.get("Spec") or {}), "VolumeOptions": {
                        **((mp.get("Spec") or {}).get("VolumeOptions") or {}), "NoCopy": True}}
                out.append(mp)
        return out

    def for_create(self, config: dict, host: dict, image_volumes: dict | None = None) -> tuple[list[dict], list[str]]:
        """The Mounts of a new container, and the names of the anonymous volumes made for it.
        Everything is checked before a volume is made."""
        volumes = {**(image_volumes or {}), **(config.get("Volumes") or {})}
        points = mount_specs.points({**config, "Volumes": volumes}, host, self._inherited(config, host))
        for mp in points:
            if mp["Type"] == "volume" and not mp["Source"]:
                check_driver(mp.get("Name") or "", mp.get("Driver"))
                if mp.get("Name") is None or self.volumes.get(mp["Name"]) is None:
                    check_options(mp.get("Name") or "", self._volume_options(mp)[0])
            # A Binds source is made if missing (as Docker does); a Mounts one only if it says so.
            if mp["Type"] == "bind" and not os.path.exists(mp["Source"]) \
                    and any(m is mp["Spec"] for m in host.get("Mounts") or []) \
                    and not (mp["Spec"].get("BindOptions") or {}).get("CreateMountpoint"):
                raise errors.BadParameter(f'invalid mount config for type "bind": bind source path does not '
                                          f'exist: {mp["Source"]}')
        anonymous = []
        for mp in points:
            if mp["Type"] == "bind" and not os.path.exists(mp["Source"]):
                os.makedirs(mp["Source"], exist_ok=True)   # as Docker makes a Binds source
            elif mp["Type"] == "volume" and not mp["Source"]:
                options, labels = self._volume_options(mp)
                vol, _ = self.volumes.ensure(mp.get("Name"), mp.get("Driver"), options, labels)
                if mp.get("Name") is None:
                    anonymous.append(vol["Name"])
                mp["Name"], mp["Source"] = vol["Name"], vol["Mountpoint"]
        return points, anonymous

    def remove_anonymous(self, rec: dict) -> None:
        """With the container (rm -v, --rm; its record gone already): its anonymous volumes
        (made for it, or another's it took with VolumesFrom: as Docker, a volume its mount
        did not name) that no other container uses."""
        unnamed = [mp["Name"] for mp in rec.get("Mounts") or []
                   # (a record older than mount points' Spec tells nothing: only its own list counts)
                   if mp.get("Type") == "volume" and mp.get("Name") and mp.get("Spec") is not None
                   and not mp["Spec"].get("Source")]
        names = list(dict.fromkeys([*(rec["Dockyard"].get("anonymous_volumes") or []), *unnamed]))
        used = references(self.records.all()) if names else {}
        for name in names:
            if name in used or self.volumes.get(name) is None:
                continue
            try:
                doomed = self.volumes.take_out(name)
            except errors.DockyardError as exc:   # the container is gone whatever; the volume stays
                log.warning("removing anonymous volume %s: %s", name, exc.message)
                continue
            if doomed is not None:
                shutil.rmtree(doomed, ignore_errors=True)
