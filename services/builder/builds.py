"""The builder's methods: a build from its context (build.run), the cache's usage and prune."""

from __future__ import annotations

import asyncio
import os
import tarfile
import threading

from services.common import compression, errors, wire
from services.common.config import Settings
from services.common.store import Store, stoppable, to_its_end

from . import context, instructions, remote
from .cache import Cache
from .executor import Build


class Builds:
    def __init__(self, settings: Settings, clients: wire.Clients):
        self.settings = settings
        self.clients = clients
        self.store = Store(settings.data_root, "builder")   # read only: the registry service writes it
        self.cache = Cache(self.store.conn)

    def handlers(self) -> dict:
        return {"build.run": self.run, "build.usage": self.usage, "build.prune": self.prune}

    async def _receive(self, call: wire.Call, path: str) -> None:
        """The context, uploaded (or fetched from `remote`), into the file `path`."""
        limit = self.settings.max_build_context
        size = 0
        with open(path, "wb") as fh:
            async for data in call.upload:
                size += len(data)
                if size > limit:
                    raise errors.PayloadTooLarge(f"the build context is larger than {limit} bytes")
                fh.write(data)
        if call.params.get("remote"):
            await remote.fetch_context(call.params["remote"], path, limit)

    async def run(self, call: wire.Call):
        p = call.params
        stage = self.store.new_stage()
        try:
            tar_path, root = os.path.join(stage, "context.tar"), os.path.join(stage, "context")
            os.mkdir(root)
            await self._receive(call, tar_path)
            dockerfile_name = p.get("dockerfile")
            if p.get("remote") and not _is_archive(tar_path):
                # A remote that is a Dockerfile alone: the context is that file.
                os.rename(tar_path, os.path.join(root, "Dockerfile"))
                dockerfile_name = "Dockerfile"
            else:
                await stoppable(context.extract, tar_path, root, self.settings.max_build_context)
                os.unlink(tar_path)
            text = await to_its_end(context.read_dockerfile, root, dockerfile_name)
            rel = os.path.relpath(context.dockerfile_path(root, dockerfile_name), root)
            await to_its_end(context.apply_dockerignore, root, rel)
            dockerfile = instructions.parse_dockerfile(text)
            build = Build(p, dockerfile, root, stage, self.store, self.clients, self.cache)
            async for chunk in build.run():
                if chunk:
                    yield chunk
        finally:
            # A thread of its own, and shielded: a cancelled build's staging goes even when the
            # shared executor is busy, or when a second cancel comes while it is removed.
            removal = asyncio.get_running_loop().create_future()
            threading.Thread(target=_discard, args=(self.store, stage, removal, asyncio.get_running_loop()),
                             name="discard", daemon=True).start()
            await asyncio.shield(removal)

    async def usage(self, call: wire.Call) -> dict:
        return {"records": self.cache.records()}

    async def prune(self, call: wire.Call) -> dict:
        """Remove the cached step images nothing holds, leaves first (each removal may free
        its parent for the next round); with `keep_storage`, stop once the cache is that small."""
        p = call.params
        deleted: list[str] = []
        reclaimed = 0
        while True:
            records = {r["id"]: r for r in self.cache.records()}
            total = sum(r["size"] for r in records.values())
            if p["keep_storage"] and total <= p["keep_storage"]:
                break
            leaves = self.cache.unused_leaves(p.get("until"))
            if not leaves:
                break
            for image_id in leaves:
                try:
                    await self.clients.call("image.remove", {"name": image_id, "force": False, "prune": False})
                except (errors.Conflict, errors.NotFound):
                    continue
                deleted.append(image_id)
                reclaimed += records[image_id]["size"]
            self.cache.forget_missing()
            if not any(i in deleted for i in leaves):
                break
        return {"deleted": deleted, "space_reclaimed": reclaimed}


def _is_archive(path: str) -> bool:
    """Whether a fetched remote is a tar (maybe compressed), not a Dockerfile."""
    with open(path, "rb") as fh:
        kind = compression.detect_file(fh)
        if kind != "none":
            return True
        fh.seek(257)
        return fh.read(5) == b"ustar" or tarfile.is_tarfile(path)


def _discard(store, stage: str, done: asyncio.Future, loop: asyncio.AbstractEventLoop) -> None:
    try:
        store.discard(stage)
    finally:
        loop.call_soon_threadsafe(lambda: done.done() or done.set_result(None))
