"""The build cache: which image a build step made on which parent, as the classic builder
keeps it. A step hits when it runs on the same parent image with the same digest: its
container config, which carries its instruction (and, for COPY and ADD, the checksum of
the files it copies). Rows live in the database, so the cache outlives every restart; a
row whose image was removed is a miss, and goes.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3

from services.common import timefmt


def key(container_config: dict) -> str:
    """The digest of a step: its container config, canonical."""
    text = json.dumps(container_config, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class Cache:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def _exists(self, image_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM images WHERE id=?", (image_id,)).fetchone() is not None

    def _ancestry(self, image_ids: list[str]) -> set[str]:
        """The images and every parent of theirs."""
        out: set[str] = set()
        todo = list(image_ids)
        while todo:
            image_id = todo.pop()
            if image_id in out:
                continue
            out.add(image_id)
            row = self.conn.execute("SELECT parent FROM images WHERE id=?", (image_id,)).fetchone()
            if row and row[0]:
                todo.append(row[0])
        return out

    def sources(self, cache_from: list[str]) -> set[str]:
        """The images a build given `cachefrom` may take its steps from: those and their parents."""
        return self._ancestry(cache_from)

    def probe(self, parent: str, digest: str, only: set[str] | None = None) -> str | None:
        """The image a step made before on `parent`, if it is still there (and, with `only`,
        is one of those)."""
        row = self.conn.execute("SELECT image_id FROM build_cache WHERE parent=? AND key=?",
                                (parent, digest)).fetchone()
        if row is None:
            return None
        image_id = row[0]
        if not self._exists(image_id):
            self.conn.execute("DELETE FROM build_cache WHERE parent=? AND key=?", (parent, digest))
            return None
        if only is not None and image_id not in only:
            return None
        self.conn.execute("UPDATE build_cache SET last_used=?, usage_count=usage_count+1 WHERE parent=? AND key=?",
                          (timefmt.now(), parent, digest))
        return image_id

    def record(self, parent: str, digest: str, image_id: str, description: str) -> None:
        now = timefmt.now()
        self.conn.execute(
            "INSERT OR REPLACE INTO build_cache(parent, key, image_id, description, created, last_used, usage_count)"
            " VALUES(?,?,?,?,?,?,1)", (parent, digest, image_id, description, now, now))

    def forget_missing(self) -> None:
        """Drop the rows whose image is gone (removed by rmi or a prune)."""
        self.conn.execute("DELETE FROM build_cache WHERE image_id NOT IN (SELECT id FROM images)")

    def in_use(self) -> set[str]:
        """Images something holds: a ref, a container, or a child of theirs does."""
        held = [r[0] for r in self.conn.execute("SELECT image_id FROM refs")]
        held += [r[0] for r in self.conn.execute("SELECT image_id FROM containers")]
        return self._ancestry(held)

    def _size(self, image_id: str, parent: str) -> int:
        """What the step's image adds to its parent's size."""
        sizes = dict(self.conn.execute("SELECT id, size FROM images WHERE id IN (?, ?)", (image_id, parent)))
        return max(0, sizes.get(image_id, 0) - sizes.get(parent, 0))

    def records(self) -> list[dict]:
        self.forget_missing()
        used = self.in_use()
        rows = self.conn.execute(
            "SELECT parent, image_id, description, created, last_used, usage_count FROM build_cache ORDER BY created")
        return [{"id": r["image_id"], "parent": r["parent"], "description": r["description"],
                 "in_use": r["image_id"] in used, "size": self._size(r["image_id"], r["parent"]),
                 "created": r["created"], "last_used": r["last_used"], "usage_count": r["usage_count"]}
                for r in rows]

    def unused_leaves(self, until: float | None) -> list[str]:
        """Cached images nothing holds and no image is made from: those a prune removes
        first (their removal may free their parents for the next round). With `until`,
        only those last used before it (unix seconds)."""
        used = self.in_use()
        out = []
        for r in self.records():
            if r["id"] in used or r["in_use"]:
                continue
            if until is not None and timefmt.parse(r["last_used"]).timestamp() >= until:
                continue
            if self.conn.execute("SELECT 1 FROM images WHERE parent=?", (r["id"],)).fetchone() is None:
                out.append(r["id"])
        return sorted(set(out))
