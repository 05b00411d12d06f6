"""Docker's image archive (`docker save` / `docker load`): writing one, and reading one safely.

An archive is a tar holding `manifest.json` ([{Config, RepoTags, Layers}]), each image's
config, and each layer as a plain tar. Reading never extracts the archive: members are
looked up by cleaned name (a name climbing out of the archive is refused), symlinks
between members are followed inside the archive only, and every layer must hash to
the diff id its config declares. Blocking; no database.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import shutil
import tarfile
import time
from dataclasses import dataclass

from services.common import compression, errors, safetar

from . import UnpackedLayer, hex_of, image_config, open_layer_tar, unpack_layer

MAX_JSON = 16 << 20


class ArchiveError(errors.BadParameter):
    pass


@dataclass
class SavedImage:
    image_id: str
    config: bytes
    repo_tags: list[str]
    layers: list[dict]     # rows with chain_id, blob path, compression, tar_size


def write(path: str, images: list[SavedImage]) -> None:
    manifest, repositories, written = [], {}, set()
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        for image in images:
            config_name = f"{hex_of(image.image_id)}.json"
            if config_name not in written:
                _add_bytes(tf, config_name, image.config)
                written.add(config_name)
            layer_names = []
            for layer in image.layers:
                layer_dir = hex_of(layer["chain_id"])
                name = f"{layer_dir}/layer.tar"
                if name not in written:
                    info = tarfile.TarInfo(layer_dir)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, int(time.time())
                    tf.addfile(info)
                    _add_bytes(tf, f"{layer_dir}/VERSION", b"1.0")
                    info = tarfile.TarInfo(name)
                    info.size, info.mode, info.mtime = layer["tar_size"], 0o644, int(time.time())
                    with open_layer_tar(layer["path"], layer["compression"]) as src:
                        tf.addfile(info, src)
                    written.add(name)
                layer_names.append(name)
            manifest.append({"Config": config_name, "RepoTags": image.repo_tags or None,
                             "Layers": layer_names})
            for ref in image.repo_tags:
                repo, _, tag = ref.rpartition(":")
                repositories.setdefault(repo, {})[tag] = hex_of(image.layers[-1]["chain_id"]) \
                    if image.layers else hex_of(image.image_id)
        _add_bytes(tf, "manifest.json", json.dumps(manifest).encode())
        _add_bytes(tf, "repositories", json.dumps(repositories).encode())


def _add_bytes(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
    tf.addfile(info, io.BytesIO(data))


@dataclass
class LoadedImage:
    config: bytes
    repo_tags: list[str]
    layers: list[UnpackedLayer]


def read(archive: str, stage_for, stop=None) -> list[LoadedImage]:
    """Read every image of the archive at `archive`; `stage_for()` gives a new staging dir.
    Blocking; stops at its next read once `stop` (a threading.Event) is set."""
    plain = archive
    with open(archive, "rb") as fh:
        kind = compression.detect_file(fh)
        if kind != "none":
            plain = archive + ".tar"
            reader = compression.HashingReader(compression.open_decompressed(fh, kind))
            with open(plain, "wb") as out:
                shutil.copyfileobj(reader, out, 1 << 20)
    try:
        tf = tarfile.open(plain, "r:")
    except tarfile.TarError as exc:
        raise ArchiveError(f"the archive is not a valid tar: {exc}") from None
    with tf:
        index = {}
        for member in tf.getmembers():
            parts = safetar.clean(member.name)
            if parts:
                index["/".join(parts)] = member
        if "manifest.json" not in index:
            raise ArchiveError("the archive has no manifest.json: not a docker save archive")
        try:
            manifest = json.loads(_read(tf, index, "manifest.json", MAX_JSON))
        except ValueError as exc:
            raise ArchiveError(f"manifest.json is not valid JSON: {exc}") from None
        if not isinstance(manifest, list):
            raise ArchiveError("manifest.json must be a list of images")
        out = []
        for entry in manifest:
            if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str) \
                    or not isinstance(entry.get("Layers"), list):
                raise ArchiveError("manifest.json: each image needs Config and Layers")
            config = _read(tf, index, entry["Config"], MAX_JSON)
            diff_ids = image_config.parse(config)["rootfs"].get("diff_ids") or []
            if len(diff_ids) != len(entry["Layers"]):
                raise ArchiveError(f"{entry['Config']}: {len(diff_ids)} diff ids but "
                                   f"{len(entry['Layers'])} layers")
            tags = entry.get("RepoTags") or []
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                raise ArchiveError("manifest.json: RepoTags must be a list of names")
            layers = []
            for name, diff_id in zip(entry["Layers"], diff_ids):
                if not isinstance(name, str):
                    raise ArchiveError("manifest.json: layer paths must be strings")
                stage = stage_for()
                member = _member(tf, index, name)
                with open(os.path.join(stage, "blob"), "wb") as blob:
                    shutil.copyfileobj(tf.extractfile(member), blob, 1 << 20)
                layer = unpack_layer(stage, stop=stop)
                if layer.diff_id != diff_id:
                    raise ArchiveError(f"layer {name} has digest {layer.diff_id}, but the image "
                                       f"config says {diff_id}")
                layers.append(layer)
            out.append(LoadedImage(config, tags, layers))
        return out


def _member(tf: tarfile.TarFile, index: dict, name: str, depth: int = 0) -> tarfile.TarInfo:
    if depth > 16:
        raise ArchiveError(f"{name}: too many levels of links in the archive")
    key = "/".join(safetar.clean(name))
    member = index.get(key)
    if member is None:
        raise ArchiveError(f"the archive has no {name!r}")
    if member.issym():
        target = member.linkname if member.linkname.startswith("/") else \
            posixpath.join(posixpath.dirname(key), member.linkname)
        return _member(tf, index, target, depth + 1)
    if member.islnk():
        return _member(tf, index, member.linkname, depth + 1)
    if not member.isreg():
        raise ArchiveError(f"{name!r} in the archive is not a file")
    return member


def _read(tf: tarfile.TarFile, index: dict, name: str, limit: int) -> bytes:
    member = _member(tf, index, name)
    if member.size > limit:
        raise ArchiveError(f"{name!r} is larger than {limit} bytes")
    return tf.extractfile(member).read()
