"""The image methods of the registry service: the one writer of the image store."""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
import tarfile
import time

from services.common import errors, fetch, filters, release, safetar, timefmt, wire
from services.common.config import Settings
from services.common.store import Store, archive, image_config, reference, stoppable, unpack_layer

from .events import image_event
from .image_list import ImageList
from .remote import RemoteMethods


class ImageMethods:
    def __init__(self, settings: Settings, server: wire.ServiceServer, clients: wire.Clients):
        self.settings = settings
        self.clients = clients
        self.store = Store(settings.data_root, "registry")
        self.store.collect_garbage()
        self.ready = ImageList(self.store)
        handlers = {
            "image.list": self.list, "image.inspect": self.inspect, "image.usage": self.usage, "image.history": self.history,
            "image.tag": self.tag, "image.remove": self.remove, "image.prune": self.prune,
            "image.import": self.import_,
            "image.import_url": self.import_url, "image.insert": self.insert,
            "image.save": self.save, "image.load": self.load, "image.commit": self.commit,
            "image.step": self.step,
        }
        for name, handler in handlers.items():
            server.handle(name)(handler)
        RemoteMethods(settings, self.store, server, clients)

    # ------------------------------------------------------------------ reads

    async def list(self, call: wire.Call) -> dict:
        return self.ready.answer(call.params["all"], call.params.get("unless"))

    async def usage(self, call: wire.Call) -> dict:
        return {"layers_size": self.store.layers_size(), "shared": self.store.shared_sizes()}

    async def inspect(self, call: wire.Call) -> dict:
        return self.store.record(self.store.resolve(call.params["name"]))

    async def history(self, call: wire.Call) -> dict:
        return {"entries": self.store.history(self.store.resolve(call.params["name"]))}

    # ------------------------------------------------------------ refs, removal

    async def tag(self, call: wire.Call) -> dict:
        p = call.params
        image_id = self.store.resolve(p["name"])
        ref = reference.repo_tag(p["repo"], p.get("tag"))
        tagged = self.store.tag(image_id, ref, p["force"])
        await image_event(self.clients, self.store, "tag", image_id, tagged)
        return {"ref": tagged}

    async def remove(self, call: wire.Call) -> dict:
        p = call.params
        try:
            target = self.store.resolve(p["name"])   # the untag events' actor, as dockerd's
        except errors.DockyardError:
            target = None
        removed = self.store.remove(p["name"], p["force"], p["prune"])
        for ref in removed["untagged"]:
            await image_event(self.clients, self.store, "untag", target or ref, target or ref)
        for image_id in removed["deleted"]:
            await image_event(self.clients, self.store, "delete", image_id, image_id)
        return removed

    async def prune(self, call: wire.Call) -> dict:
        """Docker's image prune (daemon/images/image_prune.go): dangling images (with no tag
        and no child), or with `dangling` False every image; each removed as `docker rmi`
        would, and one a container uses (a conflict) kept. No await: nothing interleaves."""
        p = call.params
        images = self.store.list(True)   # newest first: children go before their parents
        parents = {i["parent"] for i in images if i["parent"]}
        sizes = dict(self.store.conn.execute("SELECT chain_id, size FROM layers").fetchall())
        chosen = []
        for image in images:
            refs = image["refs"] + image["digests"]
            if image["id"] in parents and (p["dangling"] or not refs):
                continue   # only heads are dangling; an untagged parent goes with its child
            if p.get("until") is not None:
                try:
                    if timefmt.parse(image["created"]).timestamp() > p["until"]:
                        continue
                except ValueError:
                    continue
            config = image["config"] if isinstance(image["config"], dict) else {}
            labels = config.get("config").get("Labels") if isinstance(config.get("config"), dict) else None
            if not filters.match_labels(p["label"], p["label_not"], labels if isinstance(labels, dict) else {}):
                continue
            if p["dangling"] and image["refs"]:
                continue   # tagged: not dangling (digests alone do not keep it)
            chosen.append(refs or [image["id"]])
        removed = []
        for names in chosen:
            for name in names:
                try:
                    result = self.store.remove(name, force=False, prune=True)
                except (errors.Conflict, errors.NotFound):
                    continue   # in use, or gone with an earlier one
                removed += [{"untagged": ref} for ref in result["untagged"]]
                removed += [{"deleted": image_id} for image_id in result["deleted"]]
        left = {row[0] for row in self.store.conn.execute("SELECT chain_id FROM layers")}
        return {"removed": removed, "space_reclaimed": sum(size for chain, size in sizes.items() if chain not in left)}

    # ---------------------------------------------------------------- imports

    async def _import_config(self, p: dict) -> dict | None:
        """The imported image's run config: its `changes` (import -c) applied to an empty
        one by the builder, which parses Dockerfiles (None: no changes)."""
        if not p.get("changes"):
            return None
        return (await self.clients.call("build.configure", {
            "config": image_config.empty_container_config(), "changes": p["changes"]}))["config"]

    @staticmethod
    def _ref(p: dict) -> reference.Reference | None:
        """The ref `repo` and `tag` name, if any."""
        if p.get("repo"):
            return reference.repo_tag(p["repo"], p.get("tag"))
        if p.get("tag"):
            raise errors.BadParameter("a tag needs a repository (repo)")
        return None

    @staticmethod
    async def _unpack_upload(upload, stage: str):
        """Receive an uploaded layer tar into `stage` and unpack it there."""
        sha = hashlib.sha256()  # as it comes: the blob is not read once more for its digest
        with open(os.path.join(stage, "blob"), "wb") as fh:
            async for data in upload:
                sha.update(data)
                fh.write(data)
        return await stoppable(unpack_layer, stage, "sha256:" + sha.hexdigest())

    def _finish_import(self, stage: str, layer, p: dict, ref, run_config: dict | None) -> str:
        """Commit an unpacked import layer as a new image (no await: nothing interleaves)."""
        chain = self.store.commit_layer(layer, None)
        config = image_config.imported(layer.diff_id, p["source"], p.get("message"), release.go_arch(), run_config)
        try:
            image_id = self.store.create_image(image_config.encode(config), [chain])
        except BaseException:
            self.store.drop_unused()
            raise
        if ref is not None:
            self.store.tag(image_id, ref, p["force_tag"])
        return image_id

    async def import_(self, call: wire.Call):
        ref = self._ref(call.params)
        run_config = await self._import_config(call.params)   # a bad change refused before the upload
        stage = self.store.new_stage()
        try:
            layer = await self._unpack_upload(call.upload, stage)
            image_id = self._finish_import(stage, layer, call.params, ref, run_config)
        finally:
            self.store.discard(stage)
        await image_event(self.clients, self.store, "import", image_id, image_id)
        yield {"status": image_id, "image": image_id}

    async def import_url(self, call: wire.Call):
        p = call.params
        ref = self._ref(p)
        run_config = await self._import_config(p)
        stage = self.store.new_stage()
        try:
            async for progress in self._download(p["url"], os.path.join(stage, "blob"), "Importing"):
                yield progress
            layer = await stoppable(unpack_layer, stage)
            image_id = self._finish_import(stage, layer, p, ref, run_config)
        finally:
            self.store.discard(stage)
        yield {"status": image_id, "image": image_id}

    async def _download(self, url: str, path: str, status: str):
        last = 0.0
        async for done, total in fetch.download(url, path, self.settings.max_layer_bytes):
            now = time.monotonic()
            if now - last >= 0.1:
                last = now
                yield {"status": status, "current": done, "total": total}

    def _child_image(self, base: str, layer, created_by: str, **step) -> str:
        """Commit `layer` (None: an empty layer) on top of image `base` ("": scratch) as a new
        image (no await: nothing interleaves)."""
        chain = self.store.chain(base) if base else []
        chain_ids = [row["chain_id"] for row in chain]
        if layer is not None:
            chain_ids.append(self.store.commit_layer(layer, chain_ids[-1] if chain_ids else None))
        parent = self.store.config(base) if base else image_config.scratch(release.go_arch())
        config = image_config.child(base, parent, layer.diff_id if layer is not None else None, created_by, **step)
        try:
            return self.store.create_image(image_config.encode(config), chain_ids, parent=base or None)
        except BaseException:
            self.store.drop_unused()
            raise

    # ----------------------------------------------------------------- insert

    async def insert(self, call: wire.Call):
        p = call.params
        base = self.store.resolve(p["name"])
        parts = safetar.clean(p["path"])
        if not parts:
            raise errors.BadParameter("path must name a file in the image, not its root")
        stage = self.store.new_stage()
        try:
            async for progress in self._download(p["url"], os.path.join(stage, "file"), "Downloading"):
                yield progress
            lowers = [self.store.layer_path(row["chain_id"]) for row in self.store.chain(base)]
            await asyncio.to_thread(_insert_tar, stage, parts, lowers)
            layer = await stoppable(unpack_layer, stage)
            image_id = self._child_image(
                base, layer, f"/bin/sh -c #(nop) INSERT file:{p['url']} in /{'/'.join(parts)}")
        finally:
            self.store.discard(stage)
        yield {"status": image_id, "image": image_id}

    # ----------------------------------------------------------------- commit

    async def commit(self, call: wire.Call) -> dict:
        """A new image: the parent plus the container's changes (a layer tar, uploaded)."""
        p = call.params
        ref = self._ref(p)
        base = self.store.resolve(p["parent"])
        stage = self.store.new_stage()
        try:
            layer = await self._unpack_upload(call.upload, stage)
            image_id = self._child_image(
                base, layer, p["created_by"], comment=p["comment"], author=p["author"],
                container=p["container"], config=p["config"], container_config=p["container_config"])
        finally:
            self.store.discard(stage)
        if ref is not None:   # as dockerd's commit, its tag reported before the container's commit
            await image_event(self.clients, self.store, "tag", image_id, self.store.tag(image_id, ref, force=True))
        return {"id": image_id}

    async def step(self, call: wire.Call) -> dict:
        """A build step's image: the parent ("": scratch) and the step's layer (uploaded as a
        tar), or no layer at all for a step that only configures."""
        p = call.params
        base = self.store.resolve(p["parent"]) if p["parent"] else ""
        if not p["layer"]:
            async for _ in call.upload:
                raise errors.BadParameter("a step without a layer uploads nothing")
            image_id = self._child_image(base, None, p["created_by"], config=p["config"],
                                         container_config=p["container_config"], author=p["author"])
            return {"id": image_id}
        stage = self.store.new_stage()
        try:
            layer = await self._unpack_upload(call.upload, stage)
            image_id = self._child_image(base, layer, p["created_by"], config=p["config"],
                                         container_config=p["container_config"], author=p["author"])
        finally:
            self.store.discard(stage)
        return {"id": image_id}

    # ------------------------------------------------------------- save, load

    async def save(self, call: wire.Call):
        images = []
        for name in call.params["names"] or []:
            image_id = self.store.resolve(name)
            named = self.store.ref_named(name, image_id)
            tags = [named] if named else []
            layers = [{"chain_id": row["chain_id"], "path": self.store.blob_path(row["blob"]),
                       "compression": row["compression"], "tar_size": row["tar_size"]}
                      for row in self.store.chain(image_id)]
            images.append(archive.SavedImage(image_id, self.store.config_bytes(image_id), tags, layers))
        if not images:
            raise errors.BadParameter("name at least one image to save")
        stage = self.store.new_stage()
        try:
            path = os.path.join(stage, "archive.tar")
            await asyncio.to_thread(archive.write, path, images)
            for image in images:
                await image_event(self.clients, self.store, "save", image.image_id, image.image_id)
            with open(path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    yield chunk
        finally:
            self.store.discard(stage)

    async def load(self, call: wire.Call):
        stage = self.store.new_stage()
        stages = []

        def stage_for() -> str:
            stages.append(self.store.new_stage())
            return stages[-1]
        try:
            path = os.path.join(stage, "archive")
            with open(path, "wb") as fh:
                async for data in call.upload:
                    fh.write(data)
            loaded = await stoppable(archive.read, path, stage_for)
            for image in loaded:   # every config checked before anything is stored
                image_config.parse(image.config)
            messages = []
            for image in loaded:
                refs = [reference.parse(t).with_default_tag() for t in image.repo_tags]
                chain: list[str] = []
                for layer in image.layers:
                    chain.append(self.store.commit_layer(layer, chain[-1] if chain else None))
                try:
                    image_id = self.store.create_image(image.config, chain)
                except BaseException:
                    self.store.drop_unused()
                    raise
                await image_event(self.clients, self.store, "load", image_id, image_id)
                for ref in refs:
                    self.store.tag(image_id, ref, force=True)
                    messages.append(f"Loaded image: {ref}\n")
                if not refs:
                    messages.append(f"Loaded image ID: {image_id}\n")
        finally:
            for s in [stage, *stages]:
                self.store.discard(s)
        for message in messages:
            yield {"stream": message}


def _insert_tar(stage: str, parts: list[str], lowers: list[str]) -> None:
    """A layer tar holding the downloaded file at `parts`, its parents as the image has them."""
    src = os.path.join(stage, "file")
    with tarfile.open(os.path.join(stage, "blob"), "w", format=tarfile.PAX_FORMAT) as tf:
        for depth in range(1, len(parts)):
            info = tarfile.TarInfo("/".join(parts[:depth]))
            info.type = tarfile.DIRTYPE
            st = _lower_dir_stat(lowers, parts[:depth])
            info.mode = stat.S_IMODE(st.st_mode) if st else 0o755
            info.uid, info.gid = (st.st_uid, st.st_gid) if st else (0, 0)
            info.mtime = int(st.st_mtime) if st else int(time.time())
            tf.addfile(info)
        info = tf.gettarinfo(src, "/".join(parts))
        info.mode, info.uid, info.gid, info.uname, info.gname = 0o755, 0, 0, "root", "root"
        with open(src, "rb") as fh:
            tf.addfile(info, fh)


def _lower_dir_stat(lowers: list[str], parts: list[str]) -> os.stat_result | None:
    for root in reversed(lowers):
        root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            fd = safetar.open_dir(root_fd, parts, False, "/".join(parts))
        except safetar.LayerError:
            continue
        finally:
            os.close(root_fd)
        try:
            return os.fstat(fd)
        finally:
            os.close(fd)
    return None
