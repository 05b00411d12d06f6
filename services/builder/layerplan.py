"""The layer one COPY or ADD makes: planned in memory over the image it changes, then written as a tar.

Planning follows Docker's tar-extraction rules against a merged view of the image (read
only, a LayeredTree) and of what is planned so far: an entry replaces whatever is at its
name, except that a directory landing on a directory merges with it (taking the new
metadata). Nothing is followed by put(); callers resolve paths first (resolve()).

The written tar (PAX) holds every planned entry, each after its parent. A directory that
already exists in the image and has something planned below it is written with the image's
own metadata, so that overlayfs, which shows the upper directory's, changes nothing. Names
are relative ("usr/bin/x"); none has a ".." or starts with "/".
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
from dataclasses import dataclass, field, replace
from typing import BinaryIO, Protocol

from services.common import errors

from . import trees

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
_TYPE_BITS = {"dir": stat.S_IFDIR, "file": stat.S_IFREG, "symlink": stat.S_IFLNK,
              "chr": stat.S_IFCHR, "blk": stat.S_IFBLK, "fifo": stat.S_IFIFO}
_TAR_TYPES = {"dir": tarfile.DIRTYPE, "file": tarfile.REGTYPE, "symlink": tarfile.SYMTYPE,
              "link": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE,
              "fifo": tarfile.FIFOTYPE}
_MAX_ID = 0xFFFFFFFF
_CHUNK = 1 << 20


class Content(Protocol):
    """Where a planned file's bytes come from, with what they hashed to when planned."""

    size: int
    sha256: str

    def open(self) -> BinaryIO: ...


@dataclass
class TreeContent:
    tree: object
    path: str
    size: int
    sha256: str

    def open(self) -> BinaryIO:
        return self.tree.open(self.path)


@dataclass
class Entry:
    kind: str                    # dir, file, symlink, link (a hard link), chr, blk, fifo
    mode: int = 0o755            # permission bits (with set-id and sticky)
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    size: int = 0
    data: Content | None = None  # a file's bytes
    linkname: str = ""           # a symlink's target, or the layer path a hard link names
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, bytes] = field(default_factory=dict)
    opaque: bool = False         # a directory that hides the image's directory of that name
    inherited: bool = False      # an image directory written unchanged, for its children

    @property
    def st_mode(self) -> int:
        return _TYPE_BITS[self.kind] | self.mode


class Layer:
    """Entries planned over `image` (None: FROM scratch), in the order they are written."""

    def __init__(self, image, now: int):
        self.image = image
        self.now = now
        self.entries: dict[str, Entry] = {}
        # hard link target -> the links to it, oldest first (see _drop)
        self._links: dict[str, list[str]] = {}

    # -- the merged view

    def _image_lstat(self, parts: list[str]):
        """The image's entry at `parts`, unless something planned above it hides it."""
        if self.image is None:
            return None
        for i in range(1, len(parts)):
            above = self.entries.get("/".join(parts[:i]))
            if above is not None and (above.kind != "dir" or above.opaque):
                return None
        return self.image.lstat("/".join(parts))

    def lstat(self, path: str):
        """What the finished image will have at `path`: an Entry, an os.stat_result or None."""
        parts = trees.split(path)
        if not parts:
            return self.image.lstat("") if self.image is not None else trees._EMPTY_ROOT
        for i in range(1, len(parts)):
            above = self.entries.get("/".join(parts[:i]))
            if above is not None and above.kind != "dir":
                return None
        planned = self.entries.get("/".join(parts))
        if planned is not None:
            return self.entries[planned.linkname] if planned.kind == "link" else planned
        return self._image_lstat(parts)

    def readlink(self, path: str) -> str:
        found = self.lstat(path)
        if isinstance(found, Entry):
            return found.linkname
        return self.image.readlink(path)

    def resolve(self, path: str, follow_last: bool = True, root: str = "") -> str:
        return trees.resolve_in(self, path, follow_last, root)

    def is_dir(self, path: str) -> bool:
        found = self.lstat(path)
        return found is not None and stat.S_ISDIR(found.st_mode)

    # -- planning

    def mkdir_all(self, path: str, uid: int, gid: int) -> None:
        """Make every missing directory of the resolved `path` (0755, owned uid:gid)."""
        parts = trees.split(path)
        for i in range(1, len(parts) + 1):
            here = "/".join(parts[:i])
            found = self.lstat(here)
            if found is None:
                self.put(here, Entry("dir", 0o755, uid, gid, self.now))
            elif not stat.S_ISDIR(found.st_mode):
                raise errors.BadParameter(f"mkdir /{here}: not a directory")

    def put(self, path: str, entry: Entry) -> None:
        """Plan `entry` at `path`, whose parent must be a directory, as tar extraction would."""
        parts = trees.split(path)
        if not parts:
            if entry.kind == "dir":
                return  # the root itself: Docker leaves it as it is
            raise errors.BadParameter("cannot replace the root directory")
        self._check(parts, entry)
        self._ensure_parents(parts)
        key = "/".join(parts)
        current = self.lstat(key)
        planned = self.entries.get(key)
        if entry.kind == "dir" and current is not None and stat.S_ISDIR(current.st_mode):
            if planned is not None:  # merge: new metadata, same place and opacity
                planned.mode, planned.uid, planned.gid = entry.mode, entry.uid, entry.gid
                planned.mtime, planned.xattrs, planned.inherited = entry.mtime, entry.xattrs, False
            else:
                self.entries[key] = entry
            return
        if planned is not None:
            if entry.kind == "dir":
                # Tar extraction removed the image's directory when a non-directory
                # replaced it; a directory made again there must not show its old content.
                below = self._image_lstat(parts)
                entry.opaque = below is not None and stat.S_ISDIR(below.st_mode)
            self._drop(key)
        if entry.kind == "link":
            # After the drop, as link(2) after tar's unlink: the target may have moved
            # to another of its links, or be gone with what was replaced.
            target = self.entries.get(entry.linkname)
            if target is None or target.kind == "dir":
                raise errors.BadParameter(f"/{key}: hard link target /{entry.linkname} "
                                          "is not a file")
            if target.kind == "link":  # always name the first of a set of links
                entry.linkname = target.linkname
        self.entries[key] = entry  # a new key: written after everything planned before it
        if entry.kind == "link":
            self._links.setdefault(entry.linkname, []).append(key)

    def plan_existing(self, path: str) -> None:
        """Make sure the non-directory at `path` is planned (copied up from the image if
        need be), so that a hard link in this layer can name it."""
        key = "/".join(trees.split(path))
        if key in self.entries:
            return
        st = self._image_lstat(trees.split(path))
        if st is None or stat.S_ISDIR(st.st_mode):
            raise errors.BadParameter(f"/{key}: no such file")
        entry = entry_of(self.image, key, st, st.st_uid, st.st_gid)
        if entry is None:
            raise errors.BadParameter(f"/{key}: cannot be linked to")
        self.put(key, entry)

    def _check(self, parts: list[str], entry: Entry) -> None:
        for part in parts:
            # The layer format reads these names as whiteouts: they would delete, not add.
            if part.startswith(WHITEOUT_PREFIX):
                raise errors.BadParameter(
                    f"/{'/'.join(parts)}: a name starting with {WHITEOUT_PREFIX} cannot be "
                    "stored in an image layer")
        if not (0 <= entry.uid <= _MAX_ID and 0 <= entry.gid <= _MAX_ID):
            raise errors.BadParameter(f"/{'/'.join(parts)}: owner {entry.uid}:{entry.gid} "
                                      "is out of range")

    def _ensure_parents(self, parts: list[str]) -> None:
        for i in range(1, len(parts)):
            here = "/".join(parts[:i])
            if here in self.entries:
                continue
            st = self._image_lstat(parts[:i])
            if st is None or not stat.S_ISDIR(st.st_mode):
                raise errors.BadParameter(f"/{here}: not a directory")
            self.entries[here] = Entry("dir", stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                                       int(st.st_mtime), inherited=True)

    def _drop(self, key: str) -> None:
        """Unplan `key` and all below it."""
        doomed = [key]
        if self.entries[key].kind == "dir":
            doomed += [k for k in self.entries if k.startswith(key + "/")]
        for path in doomed:
            self._unplan(path)

    def _unplan(self, key: str) -> None:
        # A file that hard links still name moves to the oldest link (keeping that link's
        # place in the order, after the file's), and the other links name that one.
        old = self.entries.pop(key)
        if old.kind == "link":
            siblings = self._links.get(old.linkname, [])
            if key in siblings:
                siblings.remove(key)
            return
        links = self._links.pop(key, [])
        if links:
            first, rest = links[0], links[1:]
            self.entries[first] = replace(old, xattrs=dict(old.xattrs))
            for other in rest:
                self.entries[other].linkname = first
            if rest:
                self._links[first] = rest

    # -- writing

    def write(self, out: BinaryIO) -> None:
        tf = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)
        for key, entry in self.entries.items():
            info = tarfile.TarInfo(key)
            info.type = _TAR_TYPES[entry.kind]
            info.mode, info.uid, info.gid, info.mtime = entry.mode, entry.uid, entry.gid, entry.mtime
            info.uname = info.gname = ""
            info.pax_headers = {f"SCHILY.xattr.{name}": value.decode("utf-8", "surrogateescape")
                                for name, value in entry.xattrs.items()}
            if entry.kind == "file":
                info.size = entry.size
                with entry.data.open() as src:
                    checked = _Checked(src, entry.data, key)
                    tf.addfile(info, checked)
                    checked.finish()
                continue
            if entry.kind in ("symlink", "link"):
                info.linkname = entry.linkname
            elif entry.kind in ("chr", "blk"):
                info.devmajor, info.devminor = entry.devmajor, entry.devminor
            tf.addfile(info)
            if entry.opaque:
                marker = tarfile.TarInfo(f"{key}/{OPAQUE_MARKER}")
                marker.mtime = entry.mtime
                tf.addfile(marker)
        tf.close()


def device_numbers(rdev: int) -> tuple[int, int]:
    return os.major(rdev), os.minor(rdev)


def hash_file(tree, path: str) -> tuple[int, str, dict[str, bytes]]:
    """(size, sha256, security xattrs) of a regular file, read as a stream."""
    h = hashlib.sha256()
    count = 0
    with tree.open(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
            count += len(chunk)
        xattrs = {}
        try:  # file capabilities travel with a copied binary, as in Docker's tar
            xattrs["security.capability"] = os.getxattr(fh.fileno(), "security.capability")
        except OSError:
            pass
    if count != size:
        raise errors.BadParameter(f"/{path.lstrip('/')}: changed while it was read")
    return size, h.hexdigest(), xattrs


class _Checked:
    """A file's bytes as tarfile reads them, checked against what was planned."""

    def __init__(self, src: BinaryIO, content: Content, key: str):
        self.src, self.content, self.key = src, content, key
        self.hash = hashlib.sha256()
        self.count = 0

    def _changed(self) -> errors.BadParameter:
        return errors.BadParameter(f"/{self.key}: its source changed between planning and writing")

    def read(self, n: int = -1) -> bytes:
        want = self.content.size - self.count if n < 0 else n
        chunks = []
        while want > 0:
            chunk = self.src.read(want)
            if not chunk:
                raise self._changed()  # shorter than planned: the tar would be cut
            chunks.append(chunk)
            want -= len(chunk)
        data = b"".join(chunks)
        self.hash.update(data)
        self.count += len(data)
        return data

    def finish(self) -> None:
        if self.src.read(1) or self.hash.hexdigest() != self.content.sha256:
            raise self._changed()


def entry_of(tree, path: str, st, uid: int, gid: int) -> "Entry | None":
    """The entry for what `st` says is at `path` in `tree`, owned by uid:gid (a file's
    content is hashed now and read when written); None for what a layer cannot hold (a
    socket)."""
    entry = Entry("file", stat.S_IMODE(st.st_mode), uid, gid, int(st.st_mtime))
    if stat.S_ISDIR(st.st_mode):
        entry.kind = "dir"
    elif stat.S_ISREG(st.st_mode):
        entry.size, digest, entry.xattrs = hash_file(tree, path)
        entry.data = TreeContent(tree, path, entry.size, digest)
    elif stat.S_ISLNK(st.st_mode):
        entry.kind, entry.linkname = "symlink", tree.readlink(path)
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        entry.kind = "chr" if stat.S_ISCHR(st.st_mode) else "blk"
        entry.devmajor, entry.devminor = device_numbers(st.st_rdev)
    elif stat.S_ISFIFO(st.st_mode):
        entry.kind = "fifo"
    else:
        return None
    return entry
