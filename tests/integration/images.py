"""Test images: a busybox rootfs built from Debian's busybox-static, as tar bytes."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import subprocess
import tarfile
import time

import zstandard

BUSYBOX = "/bin/busybox"


def applets() -> list[str]:
    out = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True)
    return [a for a in out.stdout.split() if a and a != "busybox"]


class TarBuilder:
    """Builds a tar in memory, entry by entry (hostile ones included)."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.tf = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)
        self.mtime = 1_700_000_000

    def dir(self, name: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> "TarBuilder":
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.uid, info.gid, info.mtime = tarfile.DIRTYPE, mode, uid, gid, self.mtime
        self.tf.addfile(info)
        return self

    def file(self, name: str, data: bytes = b"", mode: int = 0o644, uid: int = 0, gid: int = 0,
             xattrs: dict | None = None, mtime: int | None = None) -> "TarBuilder":
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.uid, info.gid = len(data), mode, uid, gid
        info.mtime = self.mtime if mtime is None else mtime
        if xattrs:
            info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in xattrs.items()}
        self.tf.addfile(info, io.BytesIO(data))
        return self

    def symlink(self, name: str, target: str) -> "TarBuilder":
        info = tarfile.TarInfo(name)
        info.type, info.linkname, info.mtime = tarfile.SYMTYPE, target, self.mtime
        self.tf.addfile(info)
        return self

    def hardlink(self, name: str, target: str) -> "TarBuilder":
        info = tarfile.TarInfo(name)
        info.type, info.linkname, info.mtime = tarfile.LNKTYPE, target, self.mtime
        self.tf.addfile(info)
        return self

    def device(self, name: str, kind: bytes, major: int, minor: int, mode: int = 0o666) -> "TarBuilder":
        info = tarfile.TarInfo(name)
        info.type, info.devmajor, info.devminor, info.mode = kind, major, minor, mode
        info.mtime = self.mtime
        self.tf.addfile(info)
        return self

    def bytes(self) -> bytes:
        self.tf.close()
        return self.buf.getvalue()


def busybox_rootfs() -> bytes:
    """A minimal rootfs: /bin/busybox with an applet link for each command, and /etc basics."""
    with open(BUSYBOX, "rb") as fh:
        binary = fh.read()
    t = TarBuilder()
    for d in ("bin", "etc", "tmp", "root", "proc", "sys", "dev", "home", "var", "usr"):
        t.dir(d, mode=0o1777 if d == "tmp" else 0o755)
    t.file("bin/busybox", binary, mode=0o755)
    for applet in applets():
        if applet != "busybox":
            t.symlink(f"bin/{applet}", "busybox")
    t.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n")
    t.file("etc/group", b"root:x:0:\nnogroup:x:65534:\n")
    return t.bytes()


def compress(data: bytes, kind: str) -> bytes:
    if kind == "gzip":
        return gzip.compress(data, mtime=0)
    if kind == "bzip2":
        return bz2.compress(data)
    if kind == "xz":
        return lzma.compress(data)
    if kind == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


def now() -> int:
    return int(time.time())
