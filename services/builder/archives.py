"""ADD's local archives: telling a tar (plain, gzip, bzip2, xz or zstd) from any other file by
its content, and unpacking one into a planned layer as Docker's ADD does.

Docker unpacks inside a chroot at the destination: every entry lands below it. Here entry
names and hard link targets are cleaned lexically and one that climbs out of the
destination is refused; parent directories are resolved with symlinks followed only inside
the destination (as the chroot would); an entry itself replaces whatever is at its name.
Owners come from the archive (numeric ids, as Docker; --chown does not apply to them).
"""

from __future__ import annotations

import hashlib
import lzma
import stat
import tarfile
import zlib
from typing import BinaryIO, Iterator

import zstandard

from services.common import compression, errors

from .layerplan import Entry, Layer, WHITEOUT_PREFIX

_BLOCK = 512
_CHUNK = 1 << 20
# What a corrupt or truncated stream raises, from tarfile or from a decompressor.
_READ_ERRORS = (tarfile.TarError, EOFError, OSError, lzma.LZMAError, zlib.error,
                zstandard.ZstdError, ValueError)
_XATTR_PREFIXES = ("user.", "security.capability")


def is_archive(tree, path: str) -> bool:
    """Whether the file decompresses (or is plain) and starts with a valid tar header."""
    with tree.open(path) as fh:
        kind = compression.detect_file(fh)
        try:
            plain = compression.open_decompressed(fh, kind)
            block = _read_exact(plain, _BLOCK)
        except _READ_ERRORS:
            return False
    return _valid_header(block)


def _read_exact(fh: BinaryIO, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = fh.read(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _valid_header(block: bytes) -> bool:
    # As Go's archive/tar: a whole block, not the zero end-of-archive block, and a
    # checksum (octal, NUL- or space-terminated) that matches the unsigned or signed sum
    # of the block with the checksum field read as spaces.
    if len(block) < _BLOCK or block == bytes(_BLOCK):
        return False
    field = block[148:156].strip(b" \x00")
    try:
        expected = int(field, 8)
    except ValueError:
        return False
    rest = block[:148] + b" " * 8 + block[156:]
    unsigned = sum(rest)
    signed = sum(b - 256 if b > 127 else b for b in rest)
    return expected in (unsigned, signed)


class ArchiveSource:
    """One archive file in a tree, read as a stream: once to plan, once more to write."""

    def __init__(self, tree, path: str):
        self.tree, self.path = tree, path
        self._pass: Iterator[tuple[int, tarfile.TarInfo, BinaryIO | None]] | None = None
        self._at = -1

    def _error(self, exc: Exception) -> errors.BadParameter:
        return errors.BadParameter(f"/{self.path.lstrip('/')}: not a valid archive: {exc}")

    def members(self) -> Iterator[tuple[int, tarfile.TarInfo, BinaryIO | None]]:
        """(index, header, reader of its bytes or None) for each member, in order."""
        with self.tree.open(self.path) as fh:
            try:
                plain = compression.open_decompressed(fh, compression.detect_file(fh))
                tf = tarfile.open(fileobj=plain, mode="r|", errorlevel=2)
                for index, member in enumerate(tf):
                    yield index, member, tf.extractfile(member) if member.isreg() else None
            except _READ_ERRORS as exc:
                raise self._error(exc) from None

    def member(self, index: int) -> BinaryIO:
        """The bytes of member `index`; reading on from the last one asked for, or starting
        the stream again when asked for an earlier one (rare: see Layer._drop)."""
        if self._pass is None or index <= self._at:
            if self._pass is not None:
                self._pass.close()
            self._pass, self._at = self.members(), -1
        for at, _, reader in self._pass:
            self._at = at
            if at == index:
                return _Member(reader, self)
        raise errors.BadParameter(f"/{self.path.lstrip('/')}: changed while it was read")

    def close(self) -> None:
        if self._pass is not None:
            self._pass.close()
            self._pass = None


class _Member:
    """A member's reader (that tarfile owns) as a context manager, its errors made 400s."""

    def __init__(self, reader: BinaryIO, source: ArchiveSource):
        self.reader, self.source = reader, source

    def read(self, n: int = -1) -> bytes:
        try:
            return self.reader.read(n)
        except _READ_ERRORS as exc:
            raise self.source._error(exc) from None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


class MemberContent:
    """A planned file's bytes: member `index` of an archive."""

    def __init__(self, source: ArchiveSource, index: int, size: int, sha256: str):
        self.source, self.index, self.size, self.sha256 = source, index, size, sha256

    def open(self) -> BinaryIO:
        return self.source.member(self.index)


def _clean(name: str, dest: str, what: str) -> list[str]:
    """A member name's components below the destination; climbing out of it is refused.

    As Go's filepath.Clean: ".." at the root of an absolute name stays at the root."""
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            elif not name.startswith("/"):
                raise errors.BadParameter(f"{what} {name!r} is outside of \"/{dest}\"")
            continue
        parts.append(part)
    return parts


def unpack(layer: Layer, source: ArchiveSource, dest: str) -> None:
    """Plan the archive's members below `dest` (a resolved directory of the layer)."""
    members = source.members()
    try:
        for index, member, reader in members:
            parts = _clean(member.name, dest, "archive entry")
            if not parts:
                continue  # the archive's root ("./"): the destination stays as it is
            if any(p.startswith(WHITEOUT_PREFIX) for p in parts):
                raise errors.BadParameter(
                    f"archive entry {member.name!r}: a name starting with {WHITEOUT_PREFIX} "
                    "cannot be stored in an image layer")
            parent = layer.resolve("/".join(parts[:-1]), True, root=dest) if len(parts) > 1 else dest
            layer.mkdir_all(parent, 0, 0)  # parents the archive lacks: 0755, root's
            key = f"{parent}/{parts[-1]}" if parent else parts[-1]
            layer.put(key, _entry(layer, source, dest, index, member, reader))
    finally:
        members.close()


def _entry(layer: Layer, source: ArchiveSource, dest: str, index: int,
           member: tarfile.TarInfo, reader: BinaryIO | None) -> Entry:
    entry = Entry("file", member.mode & 0o7777, member.uid, member.gid, int(member.mtime))
    for key, value in (member.pax_headers or {}).items():
        if key.startswith("SCHILY.xattr.") and key[13:].startswith(_XATTR_PREFIXES):
            entry.xattrs[key[13:]] = value.encode("utf-8", "surrogateescape")
    if member.isreg():
        h = hashlib.sha256()
        size = 0
        try:
            while chunk := reader.read(_CHUNK):
                h.update(chunk)
                size += len(chunk)
        except _READ_ERRORS as exc:
            raise source._error(exc) from None
        entry.size, entry.data = size, MemberContent(source, index, size, h.hexdigest())
    elif member.isdir():
        entry.kind = "dir"
    elif member.issym():
        entry.kind, entry.linkname = "symlink", member.linkname
    elif member.islnk():
        entry.kind, entry.linkname = "link", _link_target(layer, dest, member)
    elif member.ischr() or member.isblk():
        if member.ischr() and member.devmajor == 0 and member.devminor == 0:
            raise errors.BadParameter(f"archive entry {member.name!r}: a 0/0 character device "
                                      "is a whiteout in an image layer")
        entry.kind = "chr" if member.ischr() else "blk"
        entry.devmajor, entry.devminor = member.devmajor, member.devminor
    elif member.isfifo():
        entry.kind = "fifo"
    else:
        raise errors.BadParameter(f"archive entry {member.name!r}: unhandled tar header "
                                  f"type {member.type!r}")
    return entry


def _link_target(layer: Layer, dest: str, member: tarfile.TarInfo) -> str:
    # Docker links to the name joined to the destination; the name's parents are
    # resolved in the chroot, its last component is not (link(2) does not follow it).
    parts = _clean(member.linkname, dest, "hard link target")
    if not parts:
        raise errors.BadParameter(f"archive entry {member.name!r}: a hard link to a directory")
    parent = layer.resolve("/".join(parts[:-1]), True, root=dest) if len(parts) > 1 else dest
    key = f"{parent}/{parts[-1]}" if parent else parts[-1]
    found = layer.lstat(key)
    if found is None:
        raise errors.BadParameter(f"archive entry {member.name!r}: hard link target "
                                  f"{member.linkname!r}: no such file or directory")
    if stat.S_ISDIR(found.st_mode):
        raise errors.BadParameter(f"archive entry {member.name!r}: a hard link to a directory")
    layer.plan_existing(key)
    return key
