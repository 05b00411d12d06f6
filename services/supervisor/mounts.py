"""A container's mounts: volumes (named and anonymous), bind mounts, tmpfs mounts and VolumesFrom.

Create turns Docker's Volumes (the body's and the image's), HostConfig.Binds, Mounts and
VolumesFrom into the record's Mounts (spec.mount_specs reads and checks them; the bundle
mounts each into the container); a volume it names is made if it is not there yet, with the
local driver (the only one there is). Removal with `v` takes the container's anonymous
volumes with it.
"""

from __future__ import annotations

import copy
import os
import secrets
import shutil
import sqlite3

from services.common import errors, timefmt

from .records import Records
from .spec import mount_specs, str_list


class Mounts:
    def __init__(self, conn: sqlite3.Connection, data_root: str, records: Records):
        self.conn = conn
        self.data_root = data_root
        self.records = records

    def _volume(self, name: str | None = None) -> tuple[str, str]:
        name = name or secrets.token_hex(32)
        path = os.path.join(self.data_root, "volumes", name, "_data")
        os.makedirs(path, mode=0o755, exist_ok=True)
        self.conn.execute("INSERT OR IGNORE INTO volumes(name, created) VALUES(?, ?)", (name, timefmt.now()))
        return name, path

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
            if mp["Type"] == "volume" and mp.get("Driver") not in (None, mount_specs.LOCAL):
                raise errors.NotFound(f'error looking up volume plugin {mp["Driver"]}: plugin "{mp["Driver"]}" '
                                      "not found")
            volume_options = (mp.get("Spec") or {}).get("VolumeOptions") or {}
            driver_options = (volume_options.get("DriverConfig") or {}).get("Options")
            if mp["Type"] == "volume" and driver_options:
                raise errors.BadParameter(f"volume {mp.get('Name') or mp['Destination']}: the local driver's options "
                                          f"({', '.join(sorted(driver_options))}) are not supported")
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
                if mp.get("Name") is None:
                    mp["Name"], mp["Source"] = self._volume()
                    anonymous.append(mp["Name"])
                else:
                    _, mp["Source"] = self._volume(mp["Name"])
        return points, anonymous

    def remove_anonymous(self, rec: dict) -> None:
        """With the container (rm -v, --rm): the anonymous volumes made for it."""
        for name in rec["Dockyard"].get("anonymous_volumes") or []:
            self.conn.execute("DELETE FROM volumes WHERE name=?", (name,))
            shutil.rmtree(os.path.join(self.data_root, "volumes", name), ignore_errors=True)
