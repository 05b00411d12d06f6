"""Layer blobs unpacked into trees: the blocking file work of the store, which takes no
database handle, so it runs in a thread while the store's connection stays on the caller's
(and stops at its next read when the caller is cancelled: `stoppable`)."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import threading
from dataclasses import dataclass
from typing import BinaryIO

from services.common import compression, errors, safetar

# The most a layer may expand to; a gzip bomb stops here.
MAX_LAYER_BYTES = 64 << 30


@dataclass
class UnpackedLayer:
    stage: str          # staging dir holding `blob` and `tree`
    blob_digest: str
    diff_id: str
    size: int           # bytes of regular files
    tar_size: int
    compression: str


def stage_blob(stage: str, chunks) -> str:
    """Write an iterable of byte chunks to `stage`/blob; return its digest."""
    sha = hashlib.sha256()
    with open(os.path.join(stage, "blob"), "wb") as fh:
        for chunk in chunks:
            sha.update(chunk)
            fh.write(chunk)
    return "sha256:" + sha.hexdigest()


class Stopped(Exception):
    """Blocking work was told to stop (its caller was cancelled)."""


class _Stoppable:
    """A file whose next read raises Stopped once `stop` is set: the extraction of a layer
    in a thread, which nothing can cancel, ends at its next read."""

    def __init__(self, inner: BinaryIO, stop: threading.Event):
        self._inner, self._stop = inner, stop

    def read(self, n: int = -1) -> bytes:
        if self._stop.is_set():
            raise Stopped("stopped")
        return self._inner.read(n)

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


async def stoppable(func, *args, **kwargs):
    """`func(*args, stop=<threading.Event>, **kwargs)` in a thread. If the caller is
    cancelled, `stop` is set and this returns only once the thread has stopped, so the
    caller may remove what the thread was writing at once (a cancelled pull or import
    left its staging to be written on, and behind, until the service restarted)."""
    stop = threading.Event()
    work = asyncio.get_running_loop().run_in_executor(None, functools.partial(func, *args, stop=stop, **kwargs))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        stop.set()
        await asyncio.gather(work, return_exceptions=True)
        raise


async def to_its_end(func, *args, **kwargs):
    """`func(*args, **kwargs)` in a thread, as asyncio.to_thread, but a cancelled caller
    returns only once the thread is done: what it writes into staging is not left being
    written while the staging is removed."""
    work = asyncio.get_running_loop().run_in_executor(None, functools.partial(func, *args, **kwargs))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await asyncio.gather(work, return_exceptions=True)
        raise


def unpack_layer(stage: str, blob_digest: str | None = None, limit: int = MAX_LAYER_BYTES,
                 stop: threading.Event | None = None) -> UnpackedLayer:
    """Extract `stage`/blob (a tar, maybe compressed) into `stage`/tree. Blocking; no
    database; raises Stopped at its next read once `stop` is set."""
    blob = os.path.join(stage, "blob")

    def watched(stream: BinaryIO) -> BinaryIO:
        return _Stoppable(stream, stop) if stop is not None else stream
    if blob_digest is None:
        sha = hashlib.sha256()
        with open(blob, "rb") as fh:
            src = watched(fh)
            for chunk in iter(lambda: src.read(1 << 20), b""):
                sha.update(chunk)
        blob_digest = "sha256:" + sha.hexdigest()
    tree = os.path.join(stage, "tree")
    os.mkdir(tree, 0o755)
    with open(blob, "rb") as fh:
        kind = compression.detect_file(fh)
        if kind == "none":  # the tar itself: its digest is the diff id, and it is read in place
            length = os.fstat(fh.fileno()).st_size
            if length > limit:
                raise errors.BadParameter(f"the archive expands to more than {limit} bytes")
            fh.seek(0)
            size = safetar.extract_layer(watched(fh), tree)
            return UnpackedLayer(stage, blob_digest, blob_digest, size, length, kind)
        reader = compression.HashingReader(compression.open_decompressed(fh, kind), limit)
        size = safetar.extract_layer(watched(reader), tree)
        reader.drain()
    return UnpackedLayer(stage, blob_digest, reader.digest, size, reader.count, kind)


def open_layer_tar(path: str, kind: str) -> BinaryIO:
    """The plain tar of a stored layer blob."""
    fh = open(path, "rb")
    return compression.open_decompressed(fh, kind)
