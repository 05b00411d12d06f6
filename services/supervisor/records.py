"""Container records: the one reader and writer of the containers table.

A record is the whole container as a modern inspect shows it, plus the supervisor's own
bookkeeping under "Dockyard" (services.common.wire.schema.CONTAINER declares it). Every
change of a record goes through `save` (or `save_until_it_works` for one that must not be
lost); every change of its State goes through services.supervisor.states.apply.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import sqlite3

from services.common import errors

log = logging.getLogger("supervisor")


class Records:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, cid: str) -> asyncio.Lock:
        """The lock a change of the container's lifecycle holds (start, stop, remove...)."""
        return self._locks.setdefault(cid, asyncio.Lock())

    # ------------------------------------------------------------------ reads

    def resolve(self, ref: str) -> str:
        """The id of the container `ref` names: its id, its name, or a unique id prefix."""
        if not ref:
            raise errors.BadParameter("a container id or name is required")
        row = self.conn.execute("SELECT id FROM containers WHERE id=? OR name=? OR name=?",
                                (ref, ref, "/" + ref.lstrip("/"))).fetchone()
        if row:
            return row[0]
        if all(c in "0123456789abcdef" for c in ref):
            rows = self.conn.execute("SELECT id FROM containers WHERE id LIKE ? LIMIT 2", (ref + "%",)).fetchall()
            if len(rows) == 1:
                return rows[0][0]
            if len(rows) > 1:
                raise errors.BadParameter(f"multiple containers match the prefix {ref!r}")
        raise errors.NotFound(f"No such container: {ref}")

    def load(self, cid: str) -> dict:
        row = self.conn.execute("SELECT config FROM containers WHERE id=?", (cid,)).fetchone()
        if row is None:
            raise errors.NotFound(f"No such container: {cid}")
        return json.loads(row[0])

    def find(self, ref: str) -> dict:
        return self.load(self.resolve(ref))

    def exists(self, cid: str) -> bool:
        return self.conn.execute("SELECT 1 FROM containers WHERE id=?", (cid,)).fetchone() is not None

    def all(self) -> list[dict]:
        """Every record, newest first."""
        return [json.loads(r[0]) for r in self.conn.execute(
            "SELECT config FROM containers ORDER BY created DESC, rowid DESC")]

    def ids(self, *states: str) -> list[str]:
        """The ids of the containers in any of `states` (all of them with none), oldest first."""
        if not states:
            return [r[0] for r in self.conn.execute("SELECT id FROM containers ORDER BY created, rowid")]
        marks = ",".join("?" * len(states))
        return [r[0] for r in self.conn.execute(
            f"SELECT id FROM containers WHERE state IN ({marks}) ORDER BY created, rowid", states)]

    def name_owner(self, name: str) -> str | None:
        row = self.conn.execute("SELECT id FROM containers WHERE name=?", (name,)).fetchone()
        return row[0] if row else None

    def new_id(self) -> str:
        """A container id whose short id no other container has: shims' sockets are named
        by it (services.common.sockets.shim_name)."""
        while True:
            cid = secrets.token_hex(32)
            if self.conn.execute("SELECT 1 FROM containers WHERE id LIKE ?", (cid[:12] + "%",)).fetchone() is None:
                return cid

    # ----------------------------------------------------------------- writes

    def insert(self, rec: dict) -> None:
        self.conn.execute("INSERT INTO containers(id, name, image_id, created, state, config) VALUES(?,?,?,?,?,?)",
                          (rec["Id"], rec["Name"], rec["Image"], rec["Created"], rec["State"]["Status"],
                           json.dumps(rec)))

    def save(self, rec: dict) -> None:
        self.conn.execute("UPDATE containers SET state=?, config=? WHERE id=?",
                          (rec["State"]["Status"], json.dumps(rec), rec["Id"]))

    def rename(self, rec: dict) -> None:
        """Save a record whose Name changed: the table's name column with it."""
        self.conn.execute("UPDATE containers SET name=?, state=?, config=? WHERE id=?",
                          (rec["Name"], rec["State"]["Status"], json.dumps(rec), rec["Id"]))

    async def save_until_it_works(self, rec: dict, what: str) -> None:
        """Save a record that must not be lost (a full disk fails the write until space is
        freed): until then its container keeps its last saved state."""
        warned = False
        while True:
            try:
                self.save(rec)
                if warned:
                    log.info("recorded %s %s at last", what, rec["Id"][:12])
                return
            except (sqlite3.Error, OSError) as exc:
                if not warned:
                    log.warning("cannot record %s %s (%s); trying again each second", what, rec["Id"][:12], exc)
                    warned = True
                await asyncio.sleep(1)

    def delete(self, cid: str) -> None:
        self.conn.execute("DELETE FROM containers WHERE id=?", (cid,))
        self._locks.pop(cid, None)
