"""container.logs: a container's log as it is now, across its rotated files (followed logs
come from its shim, which knows when the log grows: services.shim.shim `logs`)."""

from __future__ import annotations

import asyncio
import os

from services.common import container_files, errors, jsonlog, logdrivers, logfiles, wire
from services.common.config import Settings

from .records import Records

NOT_READABLE = "configured logging driver does not support reading"


class Logs:
    def __init__(self, settings: Settings, records: Records):
        self.settings = settings
        self.records = records

    def handlers(self) -> dict:
        return {"container.logs": self.logs}

    async def logs(self, call: wire.Call):
        """Entries of the container's log up to its end now."""
        p = call.params
        rec = self.records.find(p["id"])
        wanted = {fd for fd, on in ((1, p["stdout"]), (2, p["stderr"])) if on}
        async for chunk in stored(self.settings.data_root, rec, wanted, tail=p["tail"], since_ns=p["since_ns"],
                                  until_ns=p["until_ns"], timestamps=p["timestamps"], details=p["details"]):
            yield chunk


async def stored(data_root: str, rec: dict, wanted: set[int], **query):
    """Chunks of a container's log as jsonlog.read gives them, from the files on disk (held
    open: a container removed meanwhile still has its whole log read). NotImplementedYet
    for a driver that keeps none, as Docker answers."""
    config = logdrivers.of(rec)
    if config["Type"] == logdrivers.NONE:
        raise errors.NotImplementedYet(NOT_READABLE)
    path = logfiles.path_of(container_files.paths(data_root, rec["Id"]), config["Type"])
    _, max_file, _ = logdrivers.rotation(config["Type"], config.get("Config") or {})
    # Off the loop: a gzipped rotated file is decompressed as it is opened.
    view = await asyncio.to_thread(logfiles.open_stored, path, max_file, os.path.join(data_root, "tmp"))
    try:
        async for chunk in jsonlog.read(view, wanted, **query):
            yield chunk
    finally:
        view.close()
