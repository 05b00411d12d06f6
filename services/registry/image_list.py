"""The image list, kept ready: the rows of GET /images/json, made again only once the store
changed, with the stamp of the store's state they show.

The registry service is the store's one writer, all of it through its one connection, so
that connection's count of changed rows (sqlite's total_changes) moves with every pull,
tag, untag, removal, load, import, commit and build, and with nothing else that matters.
A stamp is that count and this process's own token (a restarted service counts afresh).
The api keeps its encoding of a list with its stamp, and asks with `unless`: while the
stamp holds, no rows cross the wire.
"""

from __future__ import annotations

import secrets

from services.common.store import Store


class ImageList:
    def __init__(self, store: Store):
        self.store = store
        self._token = secrets.token_hex(8)
        self._ready: dict[bool, tuple[str, list[dict]]] = {}   # all -> (stamp, rows)

    def stamp(self) -> str:
        return f"{self._token}-{self.store.conn.total_changes}"

    def rows(self, all_images: bool) -> tuple[str, list[dict]]:
        """The stamp and the rows (shared: read them, never change them)."""
        stamp = self.stamp()
        ready = self._ready.get(all_images)
        if ready is None or ready[0] != stamp:
            rows = []
            for image in self.store.list(all_images):
                config = image.pop("config")
                image["labels"] = (config.get("config") or {}).get("Labels") or {}
                rows.append(image)
            ready = self._ready[all_images] = (stamp, rows)
        return ready

    def answer(self, all_images: bool, unless: str | None) -> dict:
        """image.list's reply: no rows if `unless` is the stamp still."""
        stamp, rows = self.rows(all_images)
        return {"images": None if unless == stamp else rows, "stamp": stamp}
