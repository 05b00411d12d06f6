"""Docker's events: the message every event is, and the journal that keeps them.

The journal is the `events` table of the data root's database (migration 8): each event
as Docker's JSON message, ordered by an id that only grows, the last `KEEP` of them kept
(older ones are deleted in the same transaction as the append). The supervisor owns it
(services/supervisor/events.py appends to it and streams it); this module is shared so
that its shape and its bounds are in one place.
"""

from __future__ import annotations

import json
import sqlite3
import time

KEEP = 10000   # the journal's bound: the newest events kept

# The types whose messages carry the old keys (status, id, from), as moby's events.Log fills them.
_LEGACY_TYPES = ("container", "image")


def message(type_: str, action: str, actor_id: str, attributes: dict | None = None,
            time_nano: int | None = None) -> dict:
    """An event as Docker's events.Message serialises it (empty old keys left out)."""
    now = time.time_ns() if time_nano is None else time_nano
    attrs = {str(k): _text(v) for k, v in (attributes or {}).items() if v is not None}
    event: dict = {}
    if type_ in _LEGACY_TYPES:
        event["status"] = action
        event["id"] = actor_id
        if type_ == "container" and attrs.get("image"):
            event["from"] = attrs["image"]
    event.update({"Type": type_, "Action": action, "Actor": {"ID": actor_id, "Attributes": attrs},
                  "scope": "local", "time": now // 1_000_000_000, "timeNano": now})
    return event


def _text(value) -> str:
    # An int as its number (a signal.Signals too: Docker's "signal": "15"), a bool as Go prints it.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(int(value)) if isinstance(value, int) else str(value)


class Journal:
    """The events table through one connection of its own (so an append never lands in
    another caller's transaction)."""

    def __init__(self, conn: sqlite3.Connection, keep: int = KEEP):
        self.conn = conn
        self.keep = keep

    def append(self, event: dict) -> int:
        """Store `event`; its id (the journal's order). The oldest beyond the bound go."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            cur = self.conn.execute("INSERT INTO events (time_nano, message) VALUES (?, ?)",
                                    (int(event["timeNano"]), json.dumps(event, separators=(",", ":"))))
            new_id = cur.lastrowid
            self.conn.execute("DELETE FROM events WHERE id <= ?", (new_id - self.keep,))
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return new_id

    def after(self, last_id: int, since_ns: int = 0, until_ns: int = 0, limit: int = 500) -> list[tuple[int, dict]]:
        """(id, event) of the events after `last_id`, in order, timed from `since_ns` to
        `until_ns` (0: open), at most `limit` of them."""
        query = "SELECT id, message FROM events WHERE id > ? AND time_nano >= ?"
        args: list = [last_id, since_ns]
        if until_ns:
            query += " AND time_nano <= ?"
            args.append(until_ns)
        rows = self.conn.execute(query + " ORDER BY id LIMIT ?", (*args, limit)).fetchall()
        return [(row[0], json.loads(row[1])) for row in rows]

    def last_id(self) -> int:
        row = self.conn.execute("SELECT MAX(id) FROM events").fetchone()
        return row[0] or 0
