"""A container's mounts: volumes (named and anonymous), bind mounts and VolumesFrom.

Create turns Docker's Volumes, HostConfig.Binds and VolumesFrom into the record's Mounts
(the bundle binds each into the container); removal with `v` takes the container's
anonymous volumes with it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3

from services.common import errors, timefmt

from . import names
from .records import Records
from .spec import str_list


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

    def for_create(self, config: dict, host: dict) -> tuple[list[dict], list[str]]:
        """The Mounts of a new container, and the names of the anonymous volumes made for it."""
        mounts, anonymous = [], []
        volumes = config.get("Volumes") or {}
        for dest in volumes:
            if not dest.startswith("/"):
                raise errors.BadParameter(f"invalid volume path {dest!r}: it must be absolute")
            name, path = self._volume()
            anonymous.append(name)
            mounts.append({"Type": "volume", "Name": name, "Source": path, "Destination": dest,
                           "Driver": "local", "Mode": "", "RW": True, "Propagation": ""})
        for bind in str_list(host.get("Binds"), "Binds") or []:
            parts = bind.split(":")
            if len(parts) not in (2, 3) or not parts[1].startswith("/"):
                raise errors.BadParameter(f"invalid bind {bind!r}: use SOURCE:/path[:ro]")
            src, dest = parts[0], parts[1]
            rw = not (len(parts) == 3 and "ro" in parts[2].split(","))
            if src.startswith("/"):
                os.makedirs(src, exist_ok=True)
                mounts.append({"Type": "bind", "Source": src, "Destination": dest,
                               "Mode": parts[2] if len(parts) == 3 else "", "RW": rw, "Propagation": "rprivate"})
            else:
                if not names.NAME_RE.fullmatch(src):
                    raise errors.BadParameter(f"invalid volume name {src!r}")
                _, path = self._volume(src)
                mounts.append({"Type": "volume", "Name": src, "Source": path, "Destination": dest,
                               "Driver": "local", "Mode": "", "RW": rw, "Propagation": ""})
        sources = str_list(host.get("VolumesFrom"), "VolumesFrom") or []
        if config.get("VolumesFrom"):
            sources.append(str(config["VolumesFrom"]))
        for source in sources:
            ref, _, mode = source.partition(":")
            other = self.records.find(ref)
            for m in other.get("Mounts") or []:
                mounts.append({**m, "RW": m.get("RW", True) and mode != "ro"})
        return mounts, anonymous

    def remove_anonymous(self, rec: dict) -> None:
        """With the container (rm -v, --rm): the anonymous volumes made for it."""
        for name in rec["Dockyard"].get("anonymous_volumes") or []:
            self.conn.execute("DELETE FROM volumes WHERE name=?", (name,))
            shutil.rmtree(os.path.join(self.data_root, "volumes", name), ignore_errors=True)
