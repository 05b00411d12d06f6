"""Reading tar streams that may be compressed (gzip, bzip2, xz, zstd), with hashing and caps."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
from typing import BinaryIO

import zstandard

from . import errors

_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)

MEDIA_TYPES = {
    "none": "application/vnd.docker.image.rootfs.diff.tar",
    "gzip": "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "bzip2": "application/vnd.docker.image.rootfs.diff.tar.bzip2",
    "xz": "application/vnd.docker.image.rootfs.diff.tar.xz",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}


def detect(head: bytes) -> str:
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return "none"


def detect_file(fh: BinaryIO) -> str:
    pos = fh.tell()
    head = fh.read(8)
    fh.seek(pos)
    return detect(head)


def open_decompressed(fh: BinaryIO, kind: str) -> BinaryIO:
    """A reader of the plain bytes of `fh`, compressed as `kind`."""
    if kind == "gzip":
        return gzip.GzipFile(fileobj=fh, mode="rb")
    if kind == "bzip2":
        return bz2.BZ2File(fh, mode="rb")
    if kind == "xz":
        return lzma.LZMAFile(fh, mode="rb")
    if kind == "zstd":
        return ZstdReader(fh)
    return fh


class ZstdReader:
    """Plain bytes of a zstd stream of one or more frames; a cut-off frame is an error.

    (zstandard's own stream reader ends a truncated frame as a clean end of file.)
    """

    def __init__(self, fh: BinaryIO):
        self.fh = fh
        self.dctx = zstandard.ZstdDecompressor()
        self.obj = self.dctx.decompressobj()
        self.pending = b""
        self.started = False

    def read(self, n: int = -1) -> bytes:
        while not self.pending:
            data = self.fh.read(1 << 16)
            if not data:
                if self.started and not self.obj.eof:
                    raise zstandard.ZstdError("the zstd stream ends in the middle of a frame")
                return b""
            while data:
                if self.obj.eof:
                    self.obj = self.dctx.decompressobj()
                self.started = True
                self.pending += self.obj.decompress(data)
                data = self.obj.unused_data if self.obj.eof else b""
        if n is None or n < 0:
            out, self.pending = self.pending, b""
        else:
            out, self.pending = self.pending[:n], self.pending[n:]
        return out

    def close(self) -> None:
        self.fh.close()

    def __enter__(self) -> "ZstdReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class HashingReader:
    """Reads through to `inner`, hashing what passes and refusing more than `limit` bytes."""

    def __init__(self, inner: BinaryIO, limit: int | None = None):
        self.inner = inner
        self.limit = limit
        self.sha = hashlib.sha256()
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        try:
            data = self.inner.read(n)
        except (OSError, EOFError, lzma.LZMAError, zstandard.ZstdError) as exc:
            raise errors.BadParameter(f"the archive is corrupt: {exc}") from None
        self.count += len(data)
        if self.limit is not None and self.count > self.limit:
            raise errors.BadParameter(f"the archive expands to more than {self.limit} bytes")
        self.sha.update(data)
        return data

    def drain(self) -> None:
        while self.read(1 << 20):
            pass

    @property
    def digest(self) -> str:
        return "sha256:" + self.sha.hexdigest()
