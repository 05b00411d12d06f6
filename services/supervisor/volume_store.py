"""Volume records and the local driver's directories: the one reader and writer of the
volumes table and of `<data-root>/volumes/<name>/_data`.

A volume is made in staging and renamed into place before it is recorded, and taken out
of place (renamed into staging) before its record goes: a crash leaves either a directory
without a record, which the next start takes as a volume (as Docker's local driver finds
its volumes by their directories), or a record without a directory, a removal cut short,
which the next start finishes. A volume's name is checked before any path is made of it,
so no name leads outside the volumes directory.

The local driver's options (moby volume/local): `type`, `device` and `o` say what is
mounted on the volume's _data while containers use it (volume_mounts); `size` asks for a
quota, which this driver does not have.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import secrets
import shutil
import sqlite3
import tempfile
from datetime import datetime, timezone

from services.common import errors, timefmt
from services.kernel import mounting

from .events import emit
from .spec import mount_specs

log = logging.getLogger("supervisor")

LOCAL = "local"
SCOPE = "local"
ANONYMOUS_LABEL = "com.docker.volume.anonymous"   # moby volume/service: a volume made without a name
DATA = "_data"
OPTIONS = ("type", "o", "device", "size")
# An option -> the options it needs (moby's mandatoryOpts), checked in this order.
NEEDS = (("device", ("type",)), ("type", ("device",)), ("o", ("device", "type")))
NAME_MAX = 255   # one path component
_RAM = re.compile(r"(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?")


def ram_in_bytes(text: str) -> int:
    """A size as go-units RAMInBytes reads one: 512, 64k, 1.5MiB, 2 GB (binary multiples)."""
    m = _RAM.fullmatch(text)
    if not m:
        raise errors.BadParameter(f"invalid size: '{text}'")
    try:
        number = float(m.group(1))
    except ValueError:   # "1.2.3": Go's ParseFloat refuses it too
        raise errors.BadParameter(f"invalid size: '{text}'") from None
    power = " kmgtp".index((m.group(2) or " ").lower())
    return int(number * (1024 ** power))


def check_name(name: str) -> None:
    """A local volume's name as Docker's local driver checks it (the whole message is Docker's)."""
    if len(name) == 1:
        raise errors.BadParameter(f"create {name}: volume name is too short, names should be at least two "
                                  "alphanumeric characters")
    if not mount_specs.VOLUME_NAME.fullmatch(name):
        raise mount_specs.invalid_volume_name(name)
    if len(name.encode()) > NAME_MAX:
        raise errors.BadParameter(f"create {name[:32]}...: volume name is too long ({len(name)} characters, "
                                  f"at most {NAME_MAX})")


def _create(name: str) -> str:
    """How Docker's messages about making a volume begin (a volume yet to be named has none)."""
    return f"create {name}" if name else "create"


def check_options(name: str, options: dict[str, str] | None) -> None:
    """The local driver's options as it checks them (validateOpts)."""
    options = options or {}
    for key in options:
        if key not in OPTIONS:
            raise errors.BadParameter(f'{_create(name)}: invalid option: "{key}"')
    if "size" in options:
        try:
            size = ram_in_bytes(options["size"])
        except errors.BadParameter as exc:
            raise errors.BadParameter(f"{_create(name)}: {exc.message}") from None
        if size > 0:
            raise errors.BadParameter(f"{_create(name)}: quota size requested but no quota support")
    for key, needed in NEEDS:
        if key in options:
            for other in needed:
                if other not in options:
                    raise errors.BadParameter(f'{_create(name)}: missing required option: "{other}"')


def check_driver(name: str, driver: str | None) -> None:
    """Only the local driver is here: any other is a plugin that is not found (a 404)."""
    if driver and driver != LOCAL:
        raise errors.NotFound(f'{_create(name)}: error looking up volume plugin {driver}: plugin "{driver}" '
                              "not found")


def needs_mount(vol: dict) -> bool:
    """Whether something is mounted on the volume while it is used (moby's needsMount)."""
    return bool(vol["Options"].get("type") or vol["Options"].get("device"))


def references(records: list[dict]) -> dict[str, list[str]]:
    """Volume name -> the ids of the containers (running or not) whose mounts name it."""
    out: dict[str, list[str]] = {}
    for rec in records:
        for mp in rec.get("Mounts") or []:
            if mp.get("Type") == "volume" and mp.get("Name"):
                if rec["Id"] not in out.setdefault(mp["Name"], []):
                    out[mp["Name"]].append(rec["Id"])
    return out


def _created_at(created: str) -> str:
    """Docker's CreatedAt: RFC 3339 to the second."""
    try:
        return timefmt.parse(created).strftime("%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return created


class VolumeStore:
    def __init__(self, conn: sqlite3.Connection, data_root: str, staging: str):
        self.conn = conn
        self.root = os.path.join(data_root, "volumes")
        self.staging = staging

    def data_path(self, name: str) -> str:
        return os.path.join(self.root, name, DATA)

    def _volume(self, row: sqlite3.Row) -> dict:
        """A record as Docker shows a volume (wire VOLUME, without UsageData)."""
        return {"Name": row["name"], "Driver": row["driver"], "Mountpoint": self.data_path(row["name"]),
                "CreatedAt": _created_at(row["created"]), "Scope": SCOPE,
                "Options": json.loads(row["options"]), "Labels": json.loads(row["labels"])}

    # ------------------------------------------------------------------ reads

    def get(self, name: str) -> dict | None:
        row = self.conn.execute("SELECT * FROM volumes WHERE name=?", (name,)).fetchone()
        return self._volume(row) if row else None

    def find(self, name: str) -> dict:
        vol = self.get(name)
        if vol is None:
            raise errors.NotFound(f"get {name}: no such volume")
        return vol

    def all(self) -> list[dict]:
        return [self._volume(row) for row in self.conn.execute("SELECT * FROM volumes ORDER BY name")]

    def mounted_kind(self) -> list[dict]:
        """The volumes something is mounted on while they are used."""
        return [v for v in (self._volume(row) for row in self.conn.execute(
            "SELECT * FROM volumes WHERE options != '{}'")) if needs_mount(v)]

    # ----------------------------------------------------------------- writes

    def ensure(self, name: str | None, driver: str | None = None, options: dict | None = None,
               labels: dict | None = None) -> tuple[dict, bool]:
        """The volume `name`, made if it is not there (and whether it was made). Without a
        name, a new anonymous one. As Docker's, an existing volume is answered as it is,
        whatever options and labels are asked for."""
        labels = dict(labels or {})
        if not name:
            name = secrets.token_hex(32)
            labels[ANONYMOUS_LABEL] = ""
        check_driver(name, driver)
        check_name(name)
        existing = self.get(name)
        if existing is not None:
            os.makedirs(existing["Mountpoint"], mode=0o755, exist_ok=True)   # (taken away by hand)
            return existing, False
        check_options(name, options)
        stage = tempfile.mkdtemp(dir=self.staging)
        try:
            os.chmod(stage, 0o701)   # as Docker's volume root: the data, not the listing, is reachable
            os.mkdir(os.path.join(stage, DATA), 0o755)
            os.rename(stage, os.path.join(self.root, name))
        except OSError as exc:
            shutil.rmtree(stage, ignore_errors=True)
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            # A directory of that name with no record (made meanwhile by hand): taken as it is.
            os.makedirs(self.data_path(name), mode=0o755, exist_ok=True)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        self.conn.execute("INSERT INTO volumes(name, created, driver, labels, options) VALUES(?,?,?,?,?)",
                          (name, timefmt.now(), LOCAL, json.dumps(labels), json.dumps(options or {})))
        emit("volume", "create", name, {"driver": LOCAL})
        return self.find(name), True

    def take_out(self, name: str) -> str | None:
        """Remove the volume's record, its directory moved into staging first: the staged
        path, for the caller to delete (None if there was no directory). No container may
        use it: what is still mounted in it (left by a crash) is unmounted first, and one
        that will not go stops the removal (its files are never reached through a mount)."""
        place = os.path.join(self.root, name)
        for point in sorted(mounting.mounted_at_or_below(place), key=len, reverse=True):
            try:
                mounting.unmount(point)
            except mounting.MountError as exc:
                raise errors.ServerError(f"remove {name}: {exc}") from None
        if mounting.mounted_at_or_below(place):
            raise errors.ServerError(f"remove {name}: something is still mounted on {place}")
        doomed = None
        if os.path.lexists(place):
            if os.path.islink(place) or not os.path.isdir(place):   # never followed
                os.unlink(place)
            else:
                doomed = tempfile.mkdtemp(dir=self.staging)
                os.rename(place, os.path.join(doomed, "v"))
        self.conn.execute("DELETE FROM volumes WHERE name=?", (name,))
        emit("volume", "destroy", name, {"driver": LOCAL})
        return doomed

    def reconcile(self, referenced: set[str]) -> None:
        """At start: finish the removals a crash cut short (a record without its directory
        that no container uses: only those are removed), and take a volume directory
        without a record (a create cut short) as a volume."""
        for vol in self.all():
            if os.path.isdir(os.path.join(self.root, vol["Name"])):
                continue
            if vol["Name"] in referenced:
                log.warning("volume %s has no directory (taken away by hand?): made again, empty", vol["Name"])
                os.makedirs(vol["Mountpoint"], mode=0o755, exist_ok=True)
            else:
                log.warning("volume %s has no directory: its removal is finished", vol["Name"])
                self.conn.execute("DELETE FROM volumes WHERE name=?", (vol["Name"],))
        known = {v["Name"] for v in self.all()}
        for entry in os.scandir(self.root):
            if entry.name in known or not entry.is_dir(follow_symlinks=False):
                continue
            try:
                check_name(entry.name)
            except errors.BadParameter:
                continue
            if os.path.isdir(os.path.join(entry.path, DATA)):
                log.warning("volume directory %s has no record: taken as a volume", entry.name)
                created = datetime.fromtimestamp(entry.stat().st_ctime, timezone.utc).isoformat()
                self.conn.execute("INSERT INTO volumes(name, created, driver, labels, options) "
                                  "VALUES(?,?,?,?,?)", (entry.name, created, LOCAL, "{}", "{}"))
