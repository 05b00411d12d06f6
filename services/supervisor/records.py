"""Container records: the one reader and writer of the containers table.

A record is the whole container as a modern inspect shows it, plus the supervisor's own
bookkeeping under "Dockyard" (services.common.wire.schema.CONTAINER declares it). Every
change of a record goes through `save` (or `save_until_it_works` for one that must not be
lost); every change of its State goes through services.supervisor.states.apply.

The table is read once, at start; from then on every read is answered from memory (an
`Entry` per container, as the table holds it), and every write goes to the table first
and to memory once the table took it, so the two never disagree, across restarts too.
Each change in memory moves the records' stamp (services.common.records_stamp), by which
the api knows whether a list it keeps still holds.
`load` and `all` give each caller records of its own to change; `newest` gives the
entries themselves, whose parsed record is shared and only read.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import secrets
import sqlite3

from services.common import errors
from services.common.records_stamp import Writer as StampWriter

log = logging.getLogger("supervisor")

_HEX = frozenset("0123456789abcdef")


class Entry:
    """A container's row of the table: its columns and its record's JSON. What is worked
    out from the record (the record parsed, a listing's row) is kept until it changes."""

    __slots__ = ("id", "name", "created", "state", "seq", "text", "_record", "memo")

    def __init__(self, cid: str, name: str, created: str, state: str, seq: int, text: str):
        self.id, self.name, self.created, self.state, self.seq = cid, name, created, state, seq
        self.text = text
        self._record: dict | None = None
        self.memo: dict = {}   # what readers worked out from this version of the record

    def changed(self, state: str, text: str) -> None:
        self.state, self.text = state, text
        self._record = None
        self.memo = {}

    @property
    def record(self) -> dict:
        """The record, parsed once per change; shared by every reader: never change it."""
        if self._record is None:
            self._record = json.loads(self.text)
        return self._record


class Records:
    def __init__(self, conn: sqlite3.Connection, stamp: StampWriter | None = None):
        self.conn = conn
        self._moved = stamp.moved if stamp is not None else (lambda: None)
        self._locks: dict[str, asyncio.Lock] = {}
        self._entries: dict[str, Entry] = {}
        self._names: dict[str, str] = {}    # the name column: name -> id
        self._seq = itertools.count()        # the table's rowid order
        self._newest: list[Entry] | None = None
        for cid, name, created, state, text in conn.execute(
                "SELECT id, name, created, state, config FROM containers ORDER BY rowid"):
            self._remember(cid, name, created, state, text if isinstance(text, str) else bytes(text).decode())

    def lock(self, cid: str) -> asyncio.Lock:
        """The lock a change of the container's lifecycle holds (start, stop, remove...)."""
        return self._locks.setdefault(cid, asyncio.Lock())

    # ------------------------------------------------------------------ reads

    def resolve(self, ref: str) -> str:
        """The id of the container `ref` names: its id, its name, or a unique id prefix."""
        if not ref:
            raise errors.BadParameter("a container id or name is required")
        if ref in self._entries:
            return ref
        owner = self._names.get(ref) or self._names.get("/" + ref.lstrip("/"))
        if owner:
            return owner
        if _HEX.issuperset(ref):
            found = self._with_prefix(ref, 2)
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise errors.BadParameter(f"multiple containers match the prefix {ref!r}")
        raise errors.NotFound(f"No such container: {ref}")

    def _with_prefix(self, prefix: str, most: int) -> list[str]:
        found = []
        for cid in self._entries:
            if cid.startswith(prefix):
                found.append(cid)
                if len(found) >= most:
                    break
        return found

    def load(self, cid: str) -> dict:
        """The record, the caller's own to change (and save)."""
        entry = self._entries.get(cid)
        if entry is None:
            raise errors.NotFound(f"No such container: {cid}")
        return json.loads(entry.text)

    def find(self, ref: str) -> dict:
        return self.load(self.resolve(ref))

    def exists(self, cid: str) -> bool:
        return cid in self._entries

    def entry(self, cid: str) -> Entry:
        return self._entries[cid]

    def newest(self) -> list[Entry]:
        """Every entry, newest first (by creation time, then by when it was recorded)."""
        if self._newest is None:
            self._newest = sorted(self._entries.values(), key=lambda e: (e.created, e.seq), reverse=True)
        return self._newest

    def all(self) -> list[dict]:
        """Every record, newest first; each the caller's own."""
        return [json.loads(e.text) for e in self.newest()]

    def ids(self, *states: str) -> list[str]:
        """The ids of the containers in any of `states` (all of them with none), oldest first."""
        return [e.id for e in reversed(self.newest()) if not states or e.state in states]

    def name_owner(self, name: str) -> str | None:
        return self._names.get(name)

    def new_id(self) -> str:
        """A container id whose short id no other container has: shims' sockets are named
        by it (services.common.sockets.shim_name)."""
        while True:
            cid = secrets.token_hex(32)
            if not self._with_prefix(cid[:12], 1):
                return cid

    # ----------------------------------------------------------------- writes
    # Each writes the table first: what it refuses (a name taken, a full disk) is not
    # remembered either.

    def _remember(self, cid: str, name: str, created: str, state: str, text: str) -> None:
        self._entries[cid] = Entry(cid, name, created, state, next(self._seq), text)
        self._names[name] = cid
        self._newest = None

    def insert(self, rec: dict) -> None:
        text = json.dumps(rec)
        self.conn.execute("INSERT INTO containers(id, name, image_id, created, state, config) VALUES(?,?,?,?,?,?)",
                          (rec["Id"], rec["Name"], rec["Image"], rec["Created"], rec["State"]["Status"], text))
        self._remember(rec["Id"], rec["Name"], rec["Created"], rec["State"]["Status"], text)
        self._moved()

    def save(self, rec: dict) -> None:
        text = json.dumps(rec)
        self.conn.execute("UPDATE containers SET state=?, config=? WHERE id=?",
                          (rec["State"]["Status"], text, rec["Id"]))
        entry = self._entries.get(rec["Id"])
        if entry is not None:   # (as the table: a record removed meanwhile stays removed)
            entry.changed(rec["State"]["Status"], text)
            self._moved()

    def rename(self, rec: dict) -> None:
        """Save a record whose Name changed: the table's name column with it."""
        text = json.dumps(rec)
        self.conn.execute("UPDATE containers SET name=?, state=?, config=? WHERE id=?",
                          (rec["Name"], rec["State"]["Status"], text, rec["Id"]))
        entry = self._entries.get(rec["Id"])
        if entry is not None:
            if self._names.get(entry.name) == entry.id:
                del self._names[entry.name]
            entry.name = rec["Name"]
            self._names[entry.name] = entry.id
            entry.changed(rec["State"]["Status"], text)
            self._moved()

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
        entry = self._entries.pop(cid, None)
        if entry is not None:
            if self._names.get(entry.name) == cid:
                del self._names[entry.name]
            self._newest = None
            self._moved()
        self._locks.pop(cid, None)
