"""The modern container list (GET /containers/json on a versioned path), kept by the api
while the container records' stamp holds.

A list is the supervisor's rows in pieces (services.common.container_summary.pieces). The
api keeps the last lists it was given, each under its parameters and the records' stamp
(services.common.records_stamp) it read before asking: while the stamp reads the same, no
record changed and the same question is answered from what it kept, with no call, and
with the same bytes while no row's Status words ("Up 3 minutes") changed: they are made
again only once one of them would read differently. A list filtered by `ancestor`
depends on the image store too, and is always asked for.
"""

from __future__ import annotations

import math
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
        # By parameters: (stamp, rows, the body rendered, when, and until when it holds).
        self._kept: dict[tuple, tuple[int, list[tuple[bytes, bytes, float | None]], bytes, float, float]] = {}

    async def body(self, asked: dict) -> bytes:
        """The list's JSON: `asked` is container.summaries' parameters."""
        key = _key(asked)
        stamp = self.stamp.read() if key is not None else None
        kept = self._kept.pop(key, None) if stamp is not None else None
        now = time.time()
        if kept is not None and kept[0] == stamp:
            rows = kept[1]
            if kept[3] <= now < kept[4]:   # no row's Status words changed since
                self._kept[key] = kept
                return kept[2]
        else:
            reply = await self.clients.call("container.summaries", asked)
            rows = [(row["before"], row["after"], row["since"]) for row in reply["rows"]]
        body = b"[" + b",".join([container_summary.render(*row, now) for row in rows]) + b"]\n"
        if stamp is not None:
            until = now + min((container_summary.holds(row[2], now) for row in rows), default=math.inf)
            self._kept[key] = (stamp, rows, body, now, until)   # (re)placed last: the most recently asked
            while len(self._kept) > KEPT:
                del self._kept[next(iter(self._kept))]
        return body
