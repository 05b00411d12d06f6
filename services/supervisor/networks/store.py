"""Network records: the one reader and writer of the networks table, and the predefined
networks every daemon has (`bridge`, `host`, `none`).

A record is the network as Docker's inspect shows it, less `Containers` (a container's
endpoints live in its own record's NetworkSettings), plus the supervisor's own keys under
"Dockyard": the bridge's link name.
"""

from __future__ import annotations

import json
import secrets
import sqlite3

from services.common import errors, timefmt
from services.common.config import Settings

PREDEFINED = ("bridge", "host", "none")
BUILTIN_DRIVERS = {"bridge": "bridge", "host": "host", "none": "null"}


def blank(name: str, driver: str, ipam_config: list[dict], options: dict | None = None,
          labels: dict | None = None, internal: bool = False, attachable: bool = False) -> dict:
    """A network record as Docker's inspect shapes one."""
    return {
        "Name": name, "Id": secrets.token_hex(32), "Created": timefmt.now(), "Scope": "local",
        "Driver": driver, "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None, "Config": ipam_config},
        "Internal": internal, "Attachable": attachable, "Ingress": False, "ConfigFrom": {"Network": ""},
        "ConfigOnly": False, "Options": options or {}, "Labels": labels or {}, "Dockyard": {"bridge": ""},
    }


def default_bridge_options(settings: Settings) -> dict:
    """The options Docker shows on its default bridge (its link name, Dockyard's here)."""
    return {"com.docker.network.bridge.default_bridge": "true",
            "com.docker.network.bridge.enable_icc": "true",
            "com.docker.network.bridge.enable_ip_masquerade": "true",
            "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
            "com.docker.network.bridge.name": settings.bridge,
            "com.docker.network.driver.mtu": "1500"}


class Networks:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def all(self) -> list[dict]:
        """Every network, oldest first."""
        return [json.loads(r[0]) for r in self.conn.execute("SELECT config FROM networks ORDER BY created, rowid")]

    def by_name(self, name: str) -> dict | None:
        row = self.conn.execute("SELECT config FROM networks WHERE name=?", (name,)).fetchone()
        return json.loads(row[0]) if row else None

    def find(self, ref: str) -> dict:
        """The network `ref` names: its id, its name, or a unique prefix of its id (Docker's order)."""
        if not ref:
            raise errors.BadParameter("a network id or name is required")
        row = self.conn.execute("SELECT config FROM networks WHERE id=?", (ref,)).fetchone()
        if row is None:
            row = self.conn.execute("SELECT config FROM networks WHERE name=?", (ref,)).fetchone()
        if row is None and all(c in "0123456789abcdef" for c in ref):
            rows = self.conn.execute("SELECT config FROM networks WHERE id LIKE ? LIMIT 2", (ref + "%",)).fetchall()
            if len(rows) > 1:
                raise errors.BadParameter(f"network {ref} is ambiguous ({len(rows)} matches found on the id)")
            row = rows[0] if rows else None
        if row is None:
            raise errors.NotFound(f"network {ref} not found")
        return json.loads(row[0])

    def insert(self, rec: dict) -> None:
        try:
            self.conn.execute("INSERT INTO networks(id, name, created, config) VALUES(?,?,?,?)",
                              (rec["Id"], rec["Name"], rec["Created"], json.dumps(rec)))
        except sqlite3.IntegrityError:
            raise errors.Conflict(f"network with name {rec['Name']} already exists") from None

    def save(self, rec: dict) -> None:
        self.conn.execute("UPDATE networks SET config=? WHERE id=?", (json.dumps(rec), rec["Id"]))

    def delete(self, network_id: str) -> None:
        self.conn.execute("DELETE FROM networks WHERE id=?", (network_id,))

    def ensure_predefined(self, settings: Settings) -> None:
        """`bridge`, `host` and `none`, made at the first start; the default bridge follows
        the daemon's settings at each start (--bridge, --bip, --fixed-cidr), as dockerd's."""
        gateway, fixed = settings.bridge_address()
        config = {"Subnet": str(gateway.network), "Gateway": str(gateway.ip)}
        if fixed is not None:
            config["IPRange"] = str(fixed)
        for name in PREDEFINED:
            rec = self.by_name(name)
            if rec is None:
                rec = blank(name, BUILTIN_DRIVERS[name], [])
                self.insert(rec)
            if name == "bridge":
                rec["IPAM"] = {"Driver": "default", "Options": None, "Config": [config]}
                rec["Options"] = default_bridge_options(settings)
                rec["Dockyard"]["bridge"] = settings.bridge
                self.save(rec)
