"""container.logs: a container's log as it is now (followed logs come from its shim, which
knows when the log grows: services.shim.shim `logs`)."""

from __future__ import annotations

import os

from services.common import jsonlog, wire

from .records import Records


class Logs:
    def __init__(self, records: Records):
        self.records = records

    def handlers(self) -> dict:
        return {"container.logs": self.logs}

    async def logs(self, call: wire.Call):
        """Entries of the container's log up to its end now. Without `timestamps`, consecutive
        entries of a stream come as one chunk."""
        p = call.params
        rec = self.records.find(p["id"])
        wanted = {fd for fd, on in ((1, p["stdout"]), (2, p["stderr"])) if on}
        try:
            # Held open: a container removed meanwhile still has its whole log read.
            fd = os.open(rec["LogPath"], os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        try:
            async for chunk in jsonlog.read(fd, wanted, tail=p["tail"], since=p["since"], until=p["until"],
                                            timestamps=p["timestamps"]):
                yield chunk
        finally:
            os.close(fd)
