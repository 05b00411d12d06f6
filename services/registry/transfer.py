"""Pull and push of images between the store and a registry (Registry HTTP API v2).

A pull fetches the manifest (a manifest list or OCI index picks this host's platform),
the config, and the layers the store lacks, in parallel; every digest and size is
checked before anything is stored, and every layer must unpack to the diff id its
config declares. Only then are the layers committed, the image recorded and the tag
set, in one step with nothing awaited between: an interrupted pull leaves nothing.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import gzip
import hashlib
import json
import os
from typing import AsyncIterator

from services.common import compression, errors, fetch, release
from services.common.store import (MAX_LAYER_BYTES, Store, chain_of, hex_of, image_config, short, stoppable,
                                   unpack_layer)
from services.common.store.reference import Reference
from services.common.store.reference import parse as parse_reference

from .distribution import MANIFEST_TYPES, Registry

PARALLEL_DOWNLOADS = 3
# A pushed layer is gzipped in pieces this big, at this level (Docker's default).
GZIP_BLOCK = 1 << 20
GZIP_LEVEL = 6
LIST_TYPES = ("application/vnd.docker.distribution.manifest.list.v2+json",
              "application/vnd.oci.image.index.v1+json")
GZIP_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_V1 = "application/vnd.docker.container.image.v1+json"


def _digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def _read_capped(resp, limit: int, what: str) -> bytes:
    data = await resp.content.read(limit + 1)
    if len(data) > limit:
        raise errors.BadParameter(f"{what} is larger than {limit} bytes")
    return data


async def _registry_error(resp) -> tuple[str, str]:
    """The first error of a registry's answer ({"errors": [{"code", "message"}]}), as its code
    and Docker's text of it ("name unknown: repository name not known to registry")."""
    try:
        first = json.loads(await resp.content.read(64 << 10))["errors"][0]
        code, message = str(first.get("code") or ""), str(first.get("message") or "")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return "", ""
    said = code.replace("_", " ").lower()
    return code, f"{said}: {message}" if message else said


def _not_found(ref: Reference, reference: str, status: int, code: str, said: str) -> errors.NotFound:
    """A registry's refusal of a manifest in Docker's words (its translatePullError): a 404
    whatever the registry's status, so a client knows the image is not to be had."""
    if status in (401, 403) or code in ("DENIED", "UNAUTHORIZED"):
        return errors.NotFound(f"pull access denied for {ref.repository}, repository does not exist or may "
                               "require 'docker login'" + (f": {said}" if said else ""))
    if code == "NAME_UNKNOWN":
        return errors.NotFound(f"repository {ref.repository} not found: {said}")
    named = f"{ref.repository}@{reference}" if reference.startswith("sha256:") else f"{ref.repository}:{reference}"
    return errors.NotFound(f"manifest for {named} not found: {said or 'manifest unknown'}")


async def fetch_manifest(reg: Registry, ref: Reference, reference: str, scope: str) -> tuple[dict, str]:
    resp = await reg.request("GET", f"/v2/{ref.path}/manifests/{reference}", scope=scope,
                             headers={"Accept": ", ".join(MANIFEST_TYPES)})
    async with resp:
        if resp.status in (401, 403, 404):
            raise _not_found(ref, reference, resp.status, *await _registry_error(resp))
        if resp.status != 200:
            raise errors.ServerError(f"{reg.domain}: fetching the manifest answered {resp.status}")
        body = await _read_capped(resp, reg.max_manifest, "the manifest")
    digest = _digest_of(body)
    if reference.startswith("sha256:") and digest != reference:
        raise errors.BadParameter(f"the manifest's digest is {digest}, not {reference}")
    try:
        manifest = json.loads(body)
        if not isinstance(manifest, dict):
            raise ValueError("not an object")
    except ValueError as exc:
        raise errors.BadParameter(f"{reg.domain} sent a malformed manifest: {exc}") from None
    return manifest, digest


def _pick_platform(index: dict) -> str:
    arch = release.go_arch()
    for entry in index.get("manifests") or []:
        platform = entry.get("platform") or {}
        if platform.get("os") == "linux" and platform.get("architecture") == arch:
            return entry["digest"]
    raise errors.NotFound(f"no matching manifest for linux/{arch} in the manifest list entries")


async def _download(reg: Registry, ref: Reference, scope: str, digest: str, size: int, path: str,
                    progress: asyncio.Queue, label: str) -> None:
    resp = await reg.request("GET", f"/v2/{ref.path}/blobs/{digest}", scope=scope)
    async with resp:
        if resp.status != 200:
            raise errors.ServerError(f"{reg.domain}: fetching blob {digest} answered {resp.status}")
        sha, done = hashlib.sha256(), 0
        too_big = f"blob {digest} is larger than the {size} bytes announced"
        async for done in fetch.write_body(resp, path, size, too_big, sha):
            progress.put_nowait({"status": "Downloading", "id": label, "current": done, "total": size})
    if done != size or "sha256:" + sha.hexdigest() != digest:
        raise errors.BadParameter(f"blob {digest} failed verification: its digest or size does not match")


async def pull(store: Store, reg: Registry, ref: Reference,
               max_layer: int = MAX_LAYER_BYTES) -> AsyncIterator[dict]:
    scope = f"repository:{ref.path}:pull"
    reference = ref.digest or ref.tag or "latest"
    # Nothing is said before the manifest is in: an unknown image is a plain 404.
    manifest, digest = await fetch_manifest(reg, ref, reference, scope)
    yield {"status": f"Pulling from {ref.path.removeprefix('library/') if ref.domain == 'docker.io' else ref.path}",
           "id": reference}
    named = ref if ref.digest else Reference(ref.domain, ref.path, ref.tag or "latest")
    by_digest = Reference(ref.domain, ref.path, None, digest)
    known = store.conn.execute("SELECT image_id FROM refs WHERE ref=?", (str(by_digest),)).fetchone()
    if known:  # this very manifest was pulled before: one request was all it took
        current = store.conn.execute("SELECT image_id FROM refs WHERE ref=?", (str(named),)).fetchone()
        if not ref.digest:
            store.tag(known[0], named, force=True)
        yield {"status": f"Digest: {digest}"}
        fresh = current is None or current[0] != known[0]
        yield {"status": f"Status: {'Downloaded newer image' if fresh else 'Image is up to date'} for {named}",
               "image": known[0]}
        return
    if manifest.get("mediaType") in LIST_TYPES or "manifests" in manifest:
        manifest, digest = await fetch_manifest(reg, ref, _pick_platform(manifest), scope)
    if manifest.get("schemaVersion") != 2 or not isinstance(manifest.get("config"), dict) \
            or not isinstance(manifest.get("layers"), list):
        raise errors.BadParameter(f"{reg.domain} sent a manifest of an unsupported kind")
    config_desc = manifest["config"]
    resp = await reg.request("GET", f"/v2/{ref.path}/blobs/{config_desc['digest']}", scope=scope)
    async with resp:
        if resp.status != 200:
            raise errors.ServerError(f"{reg.domain}: fetching the config answered {resp.status}")
        config_bytes = await _read_capped(resp, reg.max_manifest, "the image config")
    if _digest_of(config_bytes) != config_desc["digest"]:
        raise errors.BadParameter("the image config failed verification: its digest does not match")
    # Checked before any layer is fetched (create_image checks it again as it stores it).
    diff_ids = image_config.parse(config_bytes)["rootfs"].get("diff_ids") or []
    layers = manifest["layers"]
    if len(layers) != len(diff_ids):
        raise errors.BadParameter("the manifest's layers do not match the config's diff ids")
    chains, parent = [], None
    for diff_id in diff_ids:
        parent = chain_of(parent, diff_id)
        chains.append(parent)
    have = {c for c in chains if store.conn.execute("SELECT 1 FROM layers WHERE chain_id=?", (c,)).fetchone()}
    progress: asyncio.Queue = asyncio.Queue()
    stages: dict[int, str] = {}
    limiter = asyncio.Semaphore(PARALLEL_DOWNLOADS)

    async def fetch(i: int, desc: dict):
        label = short(desc["digest"])
        async with limiter:
            stage = stages[i] = store.new_stage()
            size = int(desc.get("size") or 0)
            if size <= 0 or size > max_layer:
                raise errors.BadParameter(f"layer {desc['digest']} has an unacceptable size")
            await _download(reg, ref, scope, desc["digest"], size, os.path.join(stage, "blob"), progress, label)
            progress.put_nowait({"status": "Download complete", "id": label})
            layer = await stoppable(unpack_layer, stage, desc["digest"], max_layer)
            if layer.diff_id != diff_ids[i]:
                raise errors.BadParameter(f"layer {desc['digest']} unpacks to {layer.diff_id}, "
                                          f"not {diff_ids[i]} as the config says")
            progress.put_nowait({"status": "Pull complete", "id": label})
            return layer
    try:
        for i, desc in enumerate(layers):
            yield {"status": "Already exists" if chains[i] in have else "Pulling fs layer",
                   "id": short(desc["digest"])}
        tasks = {i: asyncio.ensure_future(fetch(i, desc)) for i, desc in enumerate(layers) if chains[i] not in have}
        pending = set(tasks.values())
        while pending:
            getter = asyncio.ensure_future(progress.get())
            done, _ = await asyncio.wait(pending | {getter}, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                yield getter.result()
            else:
                getter.cancel()
            for task in done - {getter}:
                pending.discard(task)
                task.result()  # a failed layer fails the pull now
        while not progress.empty():
            yield progress.get_nowait()
        # Everything is verified: commit in one go.
        parent = None
        for i in range(len(layers)):
            if i in tasks:
                store.commit_layer(tasks[i].result(), parent)
            parent = chains[i]
        image_id = store.create_image(config_bytes, chains)
    except BaseException:
        running = list(locals().get("tasks", {}).values())
        for task in running:
            task.cancel()
        # Each stops its thread before it ends (services.common.store.stoppable): only then
        # is its staging removed, and nothing writes there afterwards.
        await asyncio.gather(*running, return_exceptions=True)
        store.drop_unused()
        raise
    finally:
        for stage in stages.values():
            store.discard(stage)
    if not ref.digest:
        store.tag(image_id, named, force=True)
    store.tag(image_id, by_digest, force=True)
    yield {"status": f"Digest: {digest}"}
    yield {"status": f"Status: Downloaded newer image for {named}", "image": image_id}


def repository_tags(store: Store, repo: Reference) -> list[tuple[Reference, str]]:
    """Every tag of `repo`'s repository the store holds, by tag: (the tagged reference,
    its image id); what a push of the repository without a tag pushes (moby's pushRepository)."""
    out = []
    for name, image_id in store.conn.execute("SELECT ref, image_id FROM refs ORDER BY ref"):
        try:
            ref = parse_reference(name)
        except errors.BadParameter:
            continue
        if (ref.domain, ref.path) == (repo.domain, repo.path) and ref.tag is not None and ref.digest is None:
            out.append((ref, image_id))
    return sorted(out, key=lambda pair: pair[0].tag)


async def push(store: Store, reg: Registry, image_id: str, ref: Reference,
               announce: bool = True) -> AsyncIterator[dict]:
    """Push one tag. `announce`: say which repository first (once for a push of several tags)."""
    scope = f"repository:{ref.path}:pull,push"
    tag = ref.tag or "latest"
    if announce:
        yield {"status": f"The push refers to repository [{ref.repository}]"}
    descriptors = []
    for row in store.chain(image_id):
        label = hex_of(row["chain_id"])[:12]
        yield {"status": "Preparing", "id": label}
        stage = store.new_stage()
        try:
            blob = store.blob_path(row["blob"])
            if row["compression"] == "gzip":
                path, digest = blob, row["blob"]
            else:
                path = os.path.join(stage, "layer.tar.gz")
                digest = await asyncio.to_thread(_gzip, blob, row["compression"], path)
            size = os.path.getsize(path)
            mounted = None
            if await _exists(reg, ref, scope, digest):
                yield {"status": "Layer already exists", "id": label}
                descriptors.append({"mediaType": GZIP_LAYER, "size": size, "digest": digest})
                continue
            for source in _sibling_repositories(store, image_id, ref):
                if await _mount(reg, ref, scope, digest, source):
                    mounted = source
                    break
            if mounted:
                yield {"status": f"Mounted from {mounted}", "id": label}
            else:
                await _upload(reg, ref, scope, digest, path)
                yield {"status": "Pushed", "id": label}
        finally:
            store.discard(stage)
        descriptors.append({"mediaType": GZIP_LAYER, "size": size, "digest": digest})
    config = store.config_bytes(image_id)
    if not await _exists(reg, ref, scope, image_id):
        stage = store.new_stage()
        try:
            path = os.path.join(stage, "config.json")
            with open(path, "wb") as fh:
                fh.write(config)
            await _upload(reg, ref, scope, image_id, path)
        finally:
            store.discard(stage)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST_V2,
        "config": {"mediaType": CONFIG_V1, "size": len(config), "digest": image_id},
        "layers": descriptors,
    }, indent=3).encode()
    resp = await reg.request("PUT", f"/v2/{ref.path}/manifests/{tag}", scope=scope,
                             headers={"Content-Type": MANIFEST_V2}, data=manifest)
    async with resp:
        if resp.status in (401, 403):
            raise errors.Unauthorized(f"push access denied for {ref.repository}")
        if resp.status not in (200, 201):
            raise errors.ServerError(f"{reg.domain}: putting the manifest answered {resp.status}: "
                                     f"{(await resp.content.read(500)).decode(errors='replace')}")
    digest = _digest_of(manifest)
    store.tag(image_id, Reference(ref.domain, ref.path, None, digest), force=True)
    yield {"status": f"{tag}: digest: {digest} size: {len(manifest)}"}


def _gzip(blob: str, kind: str, out: str) -> str:
    """Gzip a stored layer into `out`; its digest. The tar is cut in GZIP_BLOCK pieces
    compressed on every core at once (zlib lets go of the GIL) and written in order, each
    a gzip member: several members read as one stream to every gzip reader (RFC 1952),
    and the same layer always gives the same bytes."""
    sha = hashlib.sha256()
    workers = os.cpu_count() or 1
    pending: collections.deque = collections.deque()
    wrote = False
    with open(out, "wb") as raw, compression.open_decompressed(open(blob, "rb"), kind) as src, \
            concurrent.futures.ThreadPoolExecutor(workers) as pool:
        while True:
            block = src.read(GZIP_BLOCK)
            if block or not wrote and not pending:  # an empty layer is still one member
                pending.append(pool.submit(gzip.compress, block, GZIP_LEVEL, mtime=0))
            while pending and (not block or len(pending) > 2 * workers):
                data = pending.popleft().result()
                sha.update(data)
                raw.write(data)
                wrote = True
            if not block:
                break
    return "sha256:" + sha.hexdigest()


def _sibling_repositories(store: Store, image_id: str, ref: Reference) -> list[str]:
    """Other repositories of the same registry this image was pushed to or pulled from."""
    if ref.domain == "docker.io":
        return []
    out = []
    for name in store.refs_of(image_id):
        if name.startswith(ref.domain + "/"):
            path = name[len(ref.domain) + 1:].split("@")[0].rsplit(":", 1)[0]
            if path != ref.path and path not in out:
                out.append(path)
    return out


async def _mount(reg: Registry, ref: Reference, scope: str, digest: str, source: str) -> bool:
    """Ask the registry to link a blob another of its repositories has (no upload)."""
    resp = await reg.request("POST", f"/v2/{ref.path}/blobs/uploads/?mount={digest}&from={source}",
                             scope=f"{scope} repository:{source}:pull")
    async with resp:
        return resp.status == 201


async def _exists(reg: Registry, ref: Reference, scope: str, digest: str) -> bool:
    resp = await reg.request("HEAD", f"/v2/{ref.path}/blobs/{digest}", scope=scope)
    async with resp:
        return resp.status == 200


async def _upload(reg: Registry, ref: Reference, scope: str, digest: str, path: str) -> None:
    resp = await reg.request("POST", f"/v2/{ref.path}/blobs/uploads/", scope=scope)
    async with resp:
        if resp.status in (401, 403):
            raise errors.Unauthorized(f"push access denied for {ref.repository}")
        if resp.status != 202 or "Location" not in resp.headers:
            raise errors.ServerError(f"{reg.domain}: starting an upload answered {resp.status}")
        location = resp.headers["Location"]
    if location.startswith("/"):
        location = reg.base + location
    location += ("&" if "?" in location else "?") + f"digest={digest}"
    # Streamed from the file (aiohttp sends a file object in chunks), never read whole.
    resp = await reg.request("PUT", location, scope=scope,
                             headers={"Content-Type": "application/octet-stream",
                                      "Content-Length": str(os.path.getsize(path))},
                             data=lambda: open(path, "rb"))
    async with resp:
        if resp.status != 201:
            raise errors.ServerError(f"{reg.domain}: uploading {digest} answered {resp.status}")
