"""The image store: blobs by digest, extracted layers by chain id, image configs, refs.

Files are made in the writer's staging directory and renamed into place; a record is
written only once its files are complete, so a crash leaves either the whole image or
files no record points at, which `collect_garbage` removes when the writer starts.
Every write happens in one process (the registry service); others only read.

Blocking file work (unpacking layers: store.layers) takes no database handle, so it can
run in a thread while the store's connection stays on the caller's thread.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tempfile

from services.common import db, errors, layout, timefmt

from . import image_config, reference
from .layers import (  # noqa: F401 (the store's users take them from here)
    MAX_LAYER_BYTES, Stopped, UnpackedLayer, open_layer_tar, stage_blob, stoppable, to_its_end, unpack_layer,
)
from .reference import Reference


def hex_of(digest: str) -> str:
    algo, _, value = digest.partition(":")
    if algo != "sha256" or not reference.ID_RE.fullmatch(value):
        raise errors.BadParameter(f"invalid digest {digest!r}")
    return value


def chain_of(parent_chain: str | None, diff_id: str) -> str:
    if not parent_chain:
        return diff_id
    return "sha256:" + hashlib.sha256(f"{parent_chain} {diff_id}".encode()).hexdigest()


def short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


class Store:
    def __init__(self, data_root: str, service: str):
        self.data_root = data_root
        self.staging = layout.staging_dir(data_root, service)
        os.makedirs(self.staging, mode=0o700, exist_ok=True)
        self.conn = db.connect(data_root)
        self._configs: dict[str, dict] = {}

    def close(self) -> None:
        self.conn.close()

    # ------------------------------------------------------------------ paths

    def blob_path(self, digest: str) -> str:
        return os.path.join(self.data_root, "blobs", "sha256", hex_of(digest))

    def layer_path(self, chain_id: str) -> str:
        return os.path.join(self.data_root, "layers", hex_of(chain_id))

    def new_stage(self) -> str:
        return tempfile.mkdtemp(dir=self.staging)

    def discard(self, path: str) -> None:
        shutil.rmtree(path, ignore_errors=True)

    # ------------------------------------------------------------------ reads

    def resolve(self, name: str) -> str:
        """The id of the image `name` names: a ref, a full or sha256: id, or a unique id prefix."""
        if not name:
            raise errors.BadParameter("an image name is required")
        value = name.removeprefix("sha256:")
        if reference.ID_RE.fullmatch(value):
            row = self.conn.execute("SELECT id FROM images WHERE id=?", ("sha256:" + value,)).fetchone()
            if row:
                return row[0]
            raise errors.NotFound(f"No such image: {name}")
        bad_ref = None
        if not name.startswith("sha256:"):
            try:
                ref = reference.parse(name).with_default_tag()
                row = self.conn.execute("SELECT image_id FROM refs WHERE ref=?", (str(ref),)).fetchone()
                if row:
                    return row[0]
            except errors.BadParameter as exc:
                bad_ref = exc
        if len(value) >= 1 and all(c in "0123456789abcdef" for c in value):
            rows = self.conn.execute("SELECT id FROM images WHERE id LIKE ? LIMIT 2",
                                     ("sha256:" + value + "%",)).fetchall()
            if len(rows) == 1:
                return rows[0][0]
            if len(rows) > 1:
                raise errors.BadParameter(
                    f"image id prefix {name!r} is ambiguous: it matches more than one image")
        if bad_ref is not None:
            raise bad_ref
        raise errors.NotFound(f"No such image: {name}")

    def config(self, image_id: str) -> dict:
        """The config a container or a child image is made from: its run config (`config`)
        checked, Cmd and Entrypoint as lists (a record stored before configs were checked
        may be wrong: BadParameter naming the field), wrong-typed fields elsewhere absent."""
        row = self.conn.execute("SELECT config FROM images WHERE id=?", (image_id,)).fetchone()
        if row is None:
            raise errors.NotFound(f"No such image: {image_id}")
        try:
            config = json.loads(row[0])
        except (ValueError, RecursionError):
            config = None
        run = image_config.run_config(config, short(image_id))
        return {**image_config.sanitized(config), "config": run}

    def config_bytes(self, image_id: str) -> bytes:
        return bytes(self.conn.execute("SELECT config FROM images WHERE id=?", (image_id,)).fetchone()[0])

    def refs_of(self, image_id: str) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT ref FROM refs WHERE image_id=? ORDER BY ref", (image_id,))]

    def ref_named(self, name: str, image_id: str) -> str | None:
        """The ref `name` spells, when it names the image by a ref rather than by an id."""
        if name.startswith("sha256:"):
            return None
        try:
            candidate = str(reference.parse(name).with_default_tag())
        except errors.BadParameter:
            return None
        return candidate if candidate in self.refs_of(image_id) else None

    def record(self, image_id: str) -> dict:
        row = self.conn.execute("SELECT id, parent, created, size, config FROM images WHERE id=?",
                                (image_id,)).fetchone()
        if row is None:
            raise errors.NotFound(f"No such image: {image_id}")
        last = self.conn.execute("SELECT MAX(tagged) FROM refs WHERE image_id=?", (image_id,)).fetchone()[0]
        return self._record(row, self.refs_of(image_id), last)

    def _record(self, row: sqlite3.Row, refs: list[str], last: str | None) -> dict:
        tagged = [r for r in refs if "@" not in r]
        digests = [r for r in refs if "@" in r]
        return {
            "id": row["id"],
            "parent": row["parent"] or "",
            "created": row["created"] if isinstance(row["created"], str) else timefmt.ZERO,
            "size": row["size"],
            "refs": tagged,
            "digests": digests,
            "config": self._parsed(row["id"], row["config"]),
            "last_tag_time": last,
        }

    def _parsed(self, image_id: str, raw: bytes) -> dict:
        # An image's config never changes (its id is its digest): parse it once. Read as
        # checked, whatever an older version stored: a wrong-typed field counts as absent.
        config = self._configs.get(image_id)
        if config is None:
            try:
                config = image_config.sanitized(json.loads(raw))
            except (ValueError, RecursionError):
                config = {}
            self._configs[image_id] = config
        return config

    def list(self, all_images: bool) -> list[dict]:
        refs: dict[str, list[str]] = {}
        last: dict[str, str] = {}
        for ref, image_id, tagged in self.conn.execute("SELECT ref, image_id, tagged FROM refs ORDER BY ref"):
            refs.setdefault(image_id, []).append(ref)
            if tagged and tagged > last.get(image_id, ""):
                last[image_id] = tagged
        parents = {r[0] for r in self.conn.execute("SELECT parent FROM images WHERE parent IS NOT NULL")}
        out = []
        for row in self.conn.execute(
                "SELECT id, parent, created, size, config FROM images ORDER BY created DESC"):
            mine = refs.get(row["id"], [])
            # Untagged images that are another's parent are intermediate: shown with all only.
            if not all_images and not mine and row["id"] in parents:
                continue
            out.append(self._record(row, mine, last.get(row["id"])))
        return out

    def chain(self, image_id: str) -> list[sqlite3.Row]:
        """The image's layers, bottom first."""
        return self.conn.execute(
            "SELECT l.* FROM image_layers il JOIN layers l ON l.chain_id = il.chain_id "
            "WHERE il.image_id=? ORDER BY il.position", (image_id,)).fetchall()

    def history(self, image_id: str) -> list[dict]:
        row = self.conn.execute("SELECT config FROM images WHERE id=?", (image_id,)).fetchone()
        if row is None:
            raise errors.NotFound(f"No such image: {image_id}")
        entries = self._parsed(image_id, row["config"]).get("history") or []
        # Which local image each history prefix belongs to: this one and its parents.
        owner: dict[int, str] = {}
        walk = image_id
        while walk:
            row = self.conn.execute("SELECT parent, config FROM images WHERE id=?", (walk,)).fetchone()
            if row is None:
                break
            owner.setdefault(len(self._parsed(walk, row["config"]).get("history") or []), walk)
            walk = row["parent"]
        sizes = [layer["size"] for layer in self.chain(image_id)]
        out, layer_index = [], 0
        for i, entry in enumerate(entries):
            size = 0
            if not entry.get("empty_layer"):
                size = sizes[layer_index] if layer_index < len(sizes) else 0
                layer_index += 1
            entry_id = owner.get(i + 1, "<missing>")
            out.append({
                "id": entry_id,
                "created": entry.get("created") or "",
                "created_by": entry.get("created_by") or "",
                "size": size,
                "comment": entry.get("comment") or "",
                "tags": self.refs_of(entry_id) if entry_id != "<missing>" else [],
            })
        out.reverse()
        return out

    def users(self, image_id: str) -> list[str]:
        """Containers made from the image."""
        return [r[0] for r in self.conn.execute("SELECT id FROM containers WHERE image_id=?", (image_id,))]

    def children(self, image_id: str) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT id FROM images WHERE parent=?", (image_id,))]

    def layers_size(self) -> int:
        """The bytes of every layer the store holds, each counted once."""
        return self.conn.execute("SELECT COALESCE(SUM(size), 0) FROM layers").fetchone()[0]

    def shared_sizes(self) -> dict[str, int]:
        """Of each image, the bytes of its layers that some other image has too."""
        rows = self.conn.execute(
            "SELECT il.image_id, COALESCE(SUM(l.size), 0) FROM image_layers il JOIN layers l ON l.chain_id = il.chain_id"
            " WHERE il.chain_id IN (SELECT chain_id FROM image_layers GROUP BY chain_id"
            " HAVING COUNT(DISTINCT image_id) > 1) GROUP BY il.image_id")
        return {image_id: size for image_id, size in rows}

    def image_count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM images").fetchone()[0]

    # ------------------------------------------------------------------ writes

    def commit_layer(self, layer: UnpackedLayer, parent_chain: str | None) -> str:
        """Move an unpacked layer into place and record it; return its chain id."""
        chain_id = chain_of(parent_chain, layer.diff_id)
        if self.conn.execute("SELECT 1 FROM layers WHERE chain_id=?", (chain_id,)).fetchone() is None:
            target = self.layer_path(chain_id)
            if os.path.lexists(target):  # a crash's leftover no record points at
                self._remove_dir(target)
            os.rename(os.path.join(layer.stage, "tree"), target)
            blob = self.blob_path(layer.blob_digest)
            if not os.path.exists(blob):
                os.rename(os.path.join(layer.stage, "blob"), blob)
            self.conn.execute(
                "INSERT INTO layers(chain_id, diff_id, parent, size, blob, compression, tar_size) "
                "VALUES(?,?,?,?,?,?,?)",
                (chain_id, layer.diff_id, parent_chain, layer.size, layer.blob_digest,
                 layer.compression, layer.tar_size))
        self.discard(layer.stage)
        return chain_id

    def create_image(self, config_bytes: bytes, chain_ids: list[str], parent: str | None = None) -> str:
        """Record an image whose layers are all committed; its id is the config's digest.
        Every way in (load, import, pull, commit, insert) ends here: a config of the wrong
        JSON types is refused (BadParameter) before anything of it is written."""
        config = image_config.parse(config_bytes)
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
        layers = [self.conn.execute("SELECT diff_id, size FROM layers WHERE chain_id=?", (c,)).fetchone()
                  for c in chain_ids]
        if [row["diff_id"] for row in layers] != diff_ids:
            raise errors.BadParameter("the image's layers do not match its rootfs.diff_ids")
        image_id = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
        created = config.get("created") or timefmt.ZERO
        size = sum(row["size"] for row in layers)
        blob = self.blob_path(image_id)
        if not os.path.exists(blob):
            tmp = os.path.join(self.staging, f"config-{image_id[7:]}")
            with open(tmp, "wb") as fh:
                fh.write(config_bytes)
            os.rename(tmp, blob)
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            if self.conn.execute("SELECT 1 FROM images WHERE id=?", (image_id,)).fetchone() is None:
                self.conn.execute("INSERT INTO images(id, parent, created, size, config) VALUES(?,?,?,?,?)",
                                  (image_id, parent, created, size, config_bytes))
                self.conn.executemany(
                    "INSERT INTO image_layers(image_id, position, chain_id) VALUES(?,?,?)",
                    [(image_id, i, c) for i, c in enumerate(chain_ids)])
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return image_id

    def tag(self, image_id: str, ref: Reference, force: bool) -> str:
        name = str(ref.with_default_tag())
        row = self.conn.execute("SELECT image_id FROM refs WHERE ref=?", (name,)).fetchone()
        if row and row[0] != image_id and not force:
            raise errors.Conflict(
                f"conflict: tag {name} is already set to image {short(row[0])}; use force to move it")
        self.conn.execute("INSERT OR REPLACE INTO refs(ref, image_id, tagged) VALUES(?,?,?)",
                          (name, image_id, timefmt.now()))
        return name

    def remove(self, name: str, force: bool, prune: bool = True) -> dict:
        """Untag, and delete the image (and its unused layers) with its last ref, as Docker does
        (daemon/images/image_delete.go): a repository's last tag takes its digests with it."""
        image_id = self.resolve(name)
        refs = self.refs_of(image_id)
        by_ref = self.ref_named(name, image_id)
        untagged: list[str] = []
        deleted: list[str] = []
        users = self.users(image_id)

        def repository(ref: str) -> str:
            return ref.partition("@")[0] if "@" in ref else ref.rpartition(":")[0]
        # Docker's "single reference": one repository's digests and at most one tag of it.
        single = len([r for r in refs if "@" not in r]) <= 1 and len({repository(r) for r in refs}) == 1
        if by_ref is not None:
            if single and users and not force:
                raise errors.Conflict(
                    f"conflict: unable to remove repository reference {name!r} (must force) - "
                    f"container {users[0][:12]} is using its referenced image {short(image_id)}")
            untagged.append(by_ref)
            repo = repository(by_ref)
            if "@" not in by_ref and not any("@" not in r and repository(r) == repo for r in refs if r != by_ref):
                untagged += [r for r in refs if "@" in r and repository(r) == repo]
            self.conn.executemany("DELETE FROM refs WHERE ref=?", [(r,) for r in untagged])
            refs = [r for r in refs if r not in untagged]
            if refs or users or self.children(image_id):
                return {"untagged": untagged, "deleted": []}   # the image stays, quietly
        else:
            if users:
                raise errors.Conflict(
                    f"conflict: unable to delete {short(image_id)} (cannot be forced) - image is being "
                    f"used by container {users[0][:12]}")
            if refs and not single and not force:
                raise errors.Conflict(
                    f"conflict: unable to delete {short(image_id)} (must be forced) - image is "
                    "referenced in multiple repositories")
            if self.children(image_id):
                raise errors.Conflict(
                    f"conflict: unable to delete {short(image_id)} (cannot be forced) - image has "
                    "dependent child images")
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            untagged += refs
            self.conn.execute("DELETE FROM refs WHERE image_id=?", (image_id,))
            parent = self.conn.execute("SELECT parent FROM images WHERE id=?", (image_id,)).fetchone()[0]
            self.conn.execute("DELETE FROM images WHERE id=?", (image_id,))
            self.conn.execute("COMMIT")
            self._configs.pop(image_id, None)
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        deleted.append(image_id)
        self.drop_unused()
        # An untagged parent that nothing else needs goes with its last child.
        if prune and parent and not self.refs_of(parent) and not self.children(parent) \
                and not self.users(parent):
            try:
                deleted += self.remove(parent, force=False, prune=True)["deleted"]
            except errors.DockyardError:
                pass
        return {"untagged": untagged, "deleted": deleted}

    # ------------------------------------------------------------ cleaning up

    def _remove_dir(self, path: str) -> None:
        # Renamed away first, so a crash mid-delete leaves only staging, cleared at start.
        doomed = tempfile.mkdtemp(dir=self.staging)
        os.rename(path, os.path.join(doomed, "x"))
        shutil.rmtree(doomed, ignore_errors=True)

    def drop_unused(self) -> None:
        unused = self.conn.execute(
            "SELECT chain_id, blob FROM layers WHERE chain_id NOT IN (SELECT chain_id FROM image_layers) "
            "ORDER BY LENGTH(chain_id)").fetchall()
        # Children first: a layer's parent may be unused only once the child is gone.
        for row in unused:
            if self.conn.execute("SELECT 1 FROM layers WHERE parent=? AND chain_id IN "
                                 "(SELECT chain_id FROM image_layers)", (row["chain_id"],)).fetchone():
                continue
            self.conn.execute("DELETE FROM layers WHERE chain_id=?", (row["chain_id"],))
            path = self.layer_path(row["chain_id"])
            if os.path.lexists(path):
                self._remove_dir(path)
        self._drop_unused_blobs()

    def _drop_unused_blobs(self) -> None:
        keep = {r[0] for r in self.conn.execute("SELECT blob FROM layers WHERE blob IS NOT NULL")}
        keep |= {r[0] for r in self.conn.execute("SELECT id FROM images")}
        root = os.path.join(self.data_root, "blobs", "sha256")
        for name in os.listdir(root):
            if "sha256:" + name not in keep:
                try:
                    os.unlink(os.path.join(root, name))
                except FileNotFoundError:
                    pass

    def collect_garbage(self) -> None:
        """At the writer's start: remove what a crash left that no record points at."""
        self.conn.execute(
            "DELETE FROM layers WHERE chain_id NOT IN (SELECT chain_id FROM image_layers)")
        known = {hex_of(r[0]) for r in self.conn.execute("SELECT chain_id FROM layers")}
        root = os.path.join(self.data_root, "layers")
        for name in os.listdir(root):
            if name not in known:
                self._remove_dir(os.path.join(root, name))
        self._drop_unused_blobs()
