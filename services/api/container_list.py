"""The modern container list (GET /containers/json on a versioned path), kept by the api
while the container records' stamp holds.

A list is the supervisor's rows in pieces (services.common.container_summary.pieces). The
api keeps the last lists it was given, each under its parameters and the records' stamp
(services.common.records_stamp) it read before asking: while the stamp reads the same, no
record changed and the same question is answered from what it kept, with no call; only
the Status words ("Up 3 minutes") are made at each answer. A list filtered by `ancestor`
depends on the image store too, and is always asked for.
"""

from __future__ import annotations

import time

from services.common import container_summary, records_stamp, wire

KEPT = 8   # lists kept, by their parameters; the least recently asked goes first


def _key(asked: dict) -> tuple | None:
    """What names a list among those kept; None for one never kept."""
    wanted = asked["filters"] or {}
    if "ancestor" in wanted:
        return None
    return (asked["all"], asked["limit"], asked["since"], asked["before"],
            tuple(sorted((name, tuple(values or ())) for name, values in wanted.items())))


class ContainerLists:
    def __init__(self, clients: wire.Clients, exec_root: str):
        self.clients = clients
        self.stamp = records_stamp.Reader(exec_root)
        self._kept: dict[tuple, tuple[int, list[tuple[bytes, bytes, float | None]]]] = {}

    async def body(self, asked: dict) -> bytes:
        """The list's JSON: `asked` is container.summaries' parameters."""
        key = _key(asked)
        stamp = self.stamp.read() if key is not None else None
        kept = self._kept.pop(key, None) if stamp is not None else None
        if kept is not None and kept[0] == stamp:
            rows = kept[1]
        else:
            reply = await self.clients.call("container.summaries", asked)
            rows = [(row["before"], row["after"], row["since"]) for row in reply["rows"]]
        if stamp is not None:
            self._kept[key] = (stamp, rows)   # (re)placed last: the most recently asked
            while len(self._kept) > KEPT:
                del self._kept[next(iter(self._kept))]
        now = time.time()
        return b"[" + b",".join([container_summary.render(*row, now) for row in rows]) + b"]\n"
