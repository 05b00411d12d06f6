"""A container's filesystem as others see it: its changes, its export, a commit to an image."""

from __future__ import annotations

import asyncio
import copy
import os
import shutil
import sys
import tempfile

from services.common import container_files, errors, layout, safetar, wire
from services.common.config import Settings
from services.common.store import Store, reference

from . import changes, states
from .events import container_event
from .records import Records


class Snapshots:
    def __init__(self, settings: Settings, records: Records, store: Store, clients: wire.Clients):
        self.settings = settings
        self.records = records
        self.store = store
        self.clients = clients
        self.staging = layout.staging_dir(settings.data_root, "supervisor")

    def handlers(self) -> dict:
        return {"container.changes": self.changes, "container.export": self.export,
                "container.commit": self.commit}

    def layers(self, rec: dict) -> tuple[dict, list[str]]:
        """The container's paths and its image's layer dirs, top first."""
        lowers = [self.store.layer_path(row["chain_id"]) for row in self.store.chain(rec["Image"])]
        return container_files.paths(self.settings.data_root, rec["Id"]), list(reversed(lowers))

    async def changes(self, call: wire.Call) -> dict:
        d, lowers = self.layers(self.records.find(call.params["id"]))
        return {"changes": await asyncio.to_thread(changes.changes, d["upper"], lowers)}

    async def export(self, call: wire.Call):
        rec = self.records.find(call.params["id"])
        d, lowers = self.layers(rec)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.shim.export", "--upper", d["upper"],
            "--lower", ":".join(lowers or [d["empty"]]),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL)
        try:
            while chunk := await proc.stdout.read(1 << 20):
                yield chunk
            if await proc.wait() != 0:
                message = (await proc.stderr.read()).decode(errors="replace").strip().splitlines()
                raise errors.ServerError(f"exporting the container failed: {message[-1] if message else ''}")
            container_event(rec, "export")   # as dockerd, once the whole of it went out
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    async def commit(self, call: wire.Call) -> dict:
        """A new image of the container's changes, made by the registry service (the store's
        one writer) from the layer this writes of them."""
        p = call.params
        rec = self.records.find(p["id"])
        states.check("commit", rec["State"]["Status"], rec["Id"])
        changes_config = p["config"] or {}
        if not isinstance(changes_config, dict):
            raise errors.BadParameter("the commit config must be a JSON object")
        config = copy.deepcopy(rec["Config"])
        for key in ("Memory", "MemorySwap", "CpuShares", "Dns", "VolumesFrom", "PortSpecs"):
            config.pop(key, None)
        config.update({k: v for k, v in changes_config.items() if v is not None})
        if p["changes"]:   # Dockerfile instructions (commit -c): the builder parses and applies them
            config = (await self.clients.call("build.configure", {"config": config, "changes": p["changes"]}))["config"]
        image_id = await self.commit_record(
            rec, config, rec["Config"], " ".join([rec["Path"], *rec["Args"]]),
            comment=p.get("comment") or "", author=p.get("author") or "", repo=p.get("repo"), tag=p.get("tag"))
        # As dockerd's: the image made, and the name it got ("" for none). A build's steps,
        # which commit too, have no such event.
        named = str(reference.repo_tag(p["repo"], p.get("tag"))) if p.get("repo") else ""
        container_event(rec, "commit", comment=p.get("comment") or "", imageID=image_id, imageRef=named)
        return {"id": image_id}

    async def commit_record(self, rec: dict, config: dict, container_config: dict, created_by: str,
                            comment: str = "", author: str = "", repo: str | None = None,
                            tag: str | None = None) -> str:
        """The id of a new image: the container's image plus its changes, with `config`."""
        upper = container_files.paths(self.settings.data_root, rec["Id"])["upper"]
        stage = tempfile.mkdtemp(dir=self.staging)
        try:
            tar_path = os.path.join(stage, "layer.tar")

            def write() -> None:
                with open(tar_path, "wb") as fh:
                    safetar.write_tree(upper, fh, overlay_whiteouts=True)
            await asyncio.to_thread(write)

            async def chunks():
                with open(tar_path, "rb") as fh:
                    while data := fh.read(1 << 20):
                        yield data
            result = await self.clients.call("image.commit", {
                "parent": rec["Image"], "container": rec["Id"], "created_by": created_by,
                "comment": comment, "author": author, "config": config,
                "container_config": container_config, "repo": repo, "tag": tag}, upload=chunks())
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        return result["id"]
