"""COPY and ADD of Docker's classic builder, made into one layer tar without mounting anything.

plan_copy() finds the sources (wildcards: services/builder/wildcards.py) in the source tree,
checks Docker's rules and plans every entry over the image (services/builder/layerplan.py),
reading each file once to hash it; CopyPlan.write() then writes the layer, reading the files
a second time. The
checksum names the copied content for the build cache and the history ("file:", "dir:" or
"multi:" and a sha256), whatever the files' mtimes and owners.

Docker's rules, from moby's builder/dockerfile (copy.go, internals.go, copy_unix.go):
- a source is cleaned lexically and may not climb out of its tree; its symlinks (the last
  one too) are resolved inside the tree; inside a copied directory, symlinks are copied;
- a directory's contents go into dest; a file goes to dest, or into it when dest ends with
  "/" or is a directory; several sources need a dest ending with "/";
- owners: root, or --chown's; COPY --from without --chown keeps the source's owners. With
  --chown, new parents of a copied file and a directory copy's new dest get that owner too;
- ADD unpacks a local archive (by content, not name) into dest (services/builder/archives.py).
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import stat
import tarfile
import time
from dataclasses import dataclass, field
from typing import BinaryIO, Callable

from services.common import errors

from . import archives, trees, wildcards
from .layerplan import Entry, Layer, entry_of, hash_file
from .trees import LayeredTree

_IO_ERRORS = (OSError, ValueError, tarfile.TarError)


@dataclass
class CopyPlan:
    checksum: str
    _layer: Layer = field(repr=False)
    _archives: list = field(repr=False, default_factory=list)

    def write(self, out: BinaryIO) -> None:
        """Write the layer tar (PAX): everything the COPY or ADD adds to the image."""
        try:
            self._layer.write(out)
        except _IO_ERRORS as exc:
            raise errors.BadParameter(f"failed to copy files: {_reason(exc)}") from None
        finally:
            for archive in self._archives:
                archive.close()


@dataclass
class _Source:
    path: str  # resolved in the source tree
    name: str  # the name a file gets in a destination directory (a symlink's own name)
    kind: str  # "dir" or "file" (anything that is not a directory)


def plan_copy(sources: list[str], dest: str, *, src, image, workdir: str,
              owner: tuple[int, int] | None, chmod: str | None, add: bool,
              src_is_context: bool, excluded: Callable[[str], bool] | None = None) -> CopyPlan:
    """Plan COPY (or ADD, `add`) of `sources` from `src` to `dest` in `image`.

    `excluded(path)`, if given, hides a source-tree path (and all below it), as
    .dockerignore does. Messages are Docker's, without its "COPY failed: " prefix.
    """
    try:
        return _plan(sources, dest, src, image, workdir, owner, chmod, add, src_is_context,
                     excluded)
    except _IO_ERRORS as exc:
        raise errors.BadParameter(f"failed to copy files: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    # Never the file name: for the context it is a host path.
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _plan(sources, dest, src, image, workdir, owner, chmod, add, src_is_context, excluded):
    command = "ADD" if add else "COPY"
    if any("\0" in text for text in (*sources, dest, workdir or "")):
        raise errors.BadParameter("a path must not contain a NUL byte")
    mode = _parse_chmod(chmod)
    owner = (int(owner[0]), int(owner[1])) if owner is not None else None
    tree = _Excluding(src, excluded) if excluded is not None else src
    found: list[_Source] = []
    for source in sources:
        found.extend(_find(tree, source, src_is_context))
    if not found:
        raise errors.BadParameter("no source files were specified")
    if len(found) > 1 and not dest.endswith("/"):
        raise errors.BadParameter(f"When using {command} with more than one source file, "
                                  "the destination must be a directory and end with a /")
    # COPY --from without --chown keeps the stage's owners (moby: preserveOwnership).
    preserve = owner is None and isinstance(src, LayeredTree)
    copier = _Copier(tree, Layer(image, int(time.time())), owner or (0, 0), preserve, mode, add)
    copier.record("options", "%d:%d" % owner if owner else "", chmod or "", str(add),
                  str(preserve))
    target = _absolute(workdir, dest)
    try:
        for source in found:
            copier.copy(source, target, dest.endswith("/"))
    except errors.BadParameter as exc:
        raise errors.BadParameter(f"failed to copy files: {exc.message}") from None
    prefix = found[0].kind if len(found) == 1 else "multi"
    return CopyPlan(f"{prefix}:{copier.hash.hexdigest()}", copier.layer, copier.archives)


def _parse_chmod(chmod: str | None) -> int | None:
    # Octal only, as BuildKit's --chmod (Docker's classic builder refuses --chmod).
    if not chmod:
        return None
    if not re.fullmatch(r"[0-7]{1,5}", chmod) or int(chmod, 8) > 0o7777:
        raise errors.BadParameter(f"invalid chmod parameter: {chmod!r} (an octal mode, "
                                  "like 755 or 0644)")
    return int(chmod, 8)


def _absolute(workdir: str, dest: str) -> str:
    """dest made absolute against WORKDIR, cleaned lexically (".." stops at the root)."""
    if not dest.startswith("/"):
        dest = posixpath.join("/", workdir or "/", dest)
    parts: list[str] = []
    for part in dest.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts)


# ----------------------------------------------------------------------------- sources


def _find(tree, source: str, in_context: bool) -> list[_Source]:
    path = source[1:] if source.startswith("/") else source  # as moby: one of each
    path = path[2:] if path.startswith("./") else path
    if wildcards.has_wildcards(path):
        return [_stat_source(tree, rel, in_context) for rel in wildcards.glob(tree, path)]
    return [_stat_source(tree, path, in_context)]


def _stat_source(tree, path: str, in_context: bool) -> _Source:
    parts: list[str] = []
    for part in path.split("/"):
        if part == "..":
            if not parts:
                raise errors.BadParameter(f"forbidden path outside the build context: {path} ()")
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    resolved = trees.resolve_in(tree, "/".join(parts))
    st = tree.lstat(resolved)
    if st is None:
        message = f"stat {path}: file does not exist"
        if in_context:
            message = "file not found in build context or excluded by .dockerignore: " + message
        raise errors.BadParameter(message)
    if stat.S_ISSOCK(st.st_mode):
        raise errors.BadParameter(f"{path}: a socket cannot be copied")
    name = parts[-1] if parts else ""
    return _Source(resolved, name, "dir" if stat.S_ISDIR(st.st_mode) else "file")


class _Excluding:
    """A tree with the paths .dockerignore excludes (and all below them) hidden."""

    def __init__(self, tree, excluded: Callable[[str], bool]):
        self.tree, self.excluded = tree, excluded

    def _hidden(self, path: str) -> bool:
        parts = trees.split(path)
        return any(self.excluded("/".join(parts[:i])) for i in range(1, len(parts) + 1))

    def lstat(self, path: str):
        return None if self._hidden(path) else self.tree.lstat(path)

    def listdir(self, path: str) -> list[str]:
        base = "/".join(trees.split(path))
        return [n for n in self.tree.listdir(path)
                if not self.excluded(f"{base}/{n}" if base else n)]

    def _visible(self, path: str) -> str:
        if self._hidden(path):
            raise errors.BadParameter(f"/{path.lstrip('/')}: excluded by .dockerignore")
        return path

    def open(self, path: str) -> BinaryIO:
        return self.tree.open(self._visible(path))

    def readlink(self, path: str) -> str:
        return self.tree.readlink(self._visible(path))


# ----------------------------------------------------------------------------- copying


class _Copier:
    """Plans each source into the layer, hashing what it plans for the checksum."""

    def __init__(self, tree, layer: Layer, identity: tuple[int, int], preserve: bool,
                 mode: int | None, add: bool):
        self.tree, self.layer, self.identity = tree, layer, identity
        self.preserve, self.mode, self.add = preserve, mode, add
        self.hash = hashlib.sha256()
        self.archives: list[archives.ArchiveSource] = []

    def record(self, *fields: str) -> None:
        self.hash.update("\0".join(fields).encode("utf-8", "surrogateescape") + b"\n")

    def copy(self, source: _Source, dest: str, into: bool) -> None:
        layer = self.layer
        # Per source, as Docker resolves the destination again for each.
        dest = layer.resolve(dest)
        self.record("source", source.kind, source.path, source.name)
        st = self.tree.lstat(source.path)
        if source.kind == "dir":
            self._copy_dir(source.path, dest)
        elif self.add and stat.S_ISREG(st.st_mode) and archives.is_archive(self.tree, source.path):
            size, digest, _ = hash_file(self.tree, source.path)
            self.record("archive", str(size), digest)
            self._mkdir_dest(dest)
            archive = archives.ArchiveSource(self.tree, source.path)
            self.archives.append(archive)
            archives.unpack(layer, archive, dest)
        else:
            # Into dest when it ends with "/" or is a directory (followed, if a symlink).
            target = posixpath.join(dest, source.name) if into or layer.is_dir(dest) else dest
            uid, gid = (0, 0) if self.preserve else self.identity
            # New parents get --chown's owner, as moby's MkdirAllAndChown(WithOnlyNew).
            layer.mkdir_all(posixpath.dirname(target), uid, gid)
            entry = self._entry(source.path, st, "")
            if entry is not None:
                layer.put(target, entry)

    def _mkdir_dest(self, dest: str) -> bool:
        """Make dest (and its parents, 0755 root); whether it is new."""
        found = self.layer.lstat(dest)
        if found is not None and not stat.S_ISDIR(found.st_mode):
            raise errors.BadParameter(f"mkdir /{dest}: not a directory")
        self.layer.mkdir_all(dest, 0, 0)
        return found is None

    def _copy_dir(self, path: str, dest: str) -> None:
        created = self._mkdir_dest(dest)
        if created and not self.preserve:  # moby's fixPermissions chowns a new dest too
            self.layer.entries[dest].uid, self.layer.entries[dest].gid = self.identity
        # Hard links are kept within one source, as Docker's tar of it keeps them:
        # (device, inode) -> (layer path, source-relative path) of the first name.
        seen: dict[tuple[int, int], tuple[str, str]] = {}
        stack = [""]
        while stack:
            rel = stack.pop()
            here = f"{path}/{rel}" if path and rel else path or rel
            names = self.tree.listdir(here)
            subdirs = []
            for name in names:
                sub_rel = f"{rel}/{name}" if rel else name
                sub = f"{here}/{name}" if here else name
                st = self.tree.lstat(sub)
                if st is None:
                    continue
                key = f"{dest}/{sub_rel}" if dest else sub_rel
                link = None
                if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
                    link = seen.get((st.st_dev, st.st_ino))
                entry = self._entry(sub, st, sub_rel, link)
                if entry is None:
                    continue
                self.layer.put(key, entry)
                if stat.S_ISREG(st.st_mode) and st.st_nlink > 1 and link is None:
                    seen[(st.st_dev, st.st_ino)] = (key, sub_rel)
                if stat.S_ISDIR(st.st_mode):
                    subdirs.append(sub_rel)
            stack.extend(reversed(subdirs))

    def _entry(self, path: str, st, rel: str,
               link: tuple[str, str] | None = None) -> Entry | None:
        """The entry for the source at `path`, a hard link to `link` if given; recorded
        under `rel` for the checksum."""
        uid, gid = (st.st_uid, st.st_gid) if self.preserve else self.identity
        perms = stat.S_IMODE(st.st_mode)
        if link is not None:
            entry = Entry("link", perms, uid, gid, int(st.st_mtime), linkname=link[0])
        else:
            entry = entry_of(self.tree, path, st, uid, gid)
            if entry is None:
                return None  # sockets are left out, as in Docker's tar
        if entry.kind == "chr" and st.st_rdev == 0:
            raise errors.BadParameter(f"/{path}: a 0/0 character device is a whiteout in an image layer")
        digest = entry.data.sha256 if entry.data is not None else ""
        if self.mode is not None and entry.kind in ("dir", "file"):
            entry.mode = self.mode
        owners = f"{uid}:{gid}" if self.preserve else ""
        linkname = link[1] if link is not None else entry.linkname
        self.record(rel, entry.kind, f"{perms:o}", linkname, digest,
                    f"{entry.devmajor},{entry.devminor}", owners,
                    hashlib.sha256(b"".join(entry.xattrs.values())).hexdigest())
        return entry
