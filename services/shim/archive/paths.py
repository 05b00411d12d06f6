"""Docker's rules for a copy's path, and what its stat says: pure functions, no file system
but what the caller hands in (so they are tested without a container).

- `absolute`: the path made absolute and clean, keeping a trailing "/" or "/." as Docker's
  PreserveTrailingDotOrSeparator (`preserve_trailing`) does ("/." means the directory's contents, "/" follows
  a symlink), and `base_name`, Go's filepath.Base of it (the stat's name, the name the
  archive's entries are rebased to).
- `follow_in_scope`: moby's FollowSymlinkInScope with "/" as the scope: every symlink
  followed, a missing component kept as it is (a stat's linkTarget).
- `go_mode`, `go_time`, `path_stat`: the stat as Go's os.FileMode and time.Time say it.
- `read_only_reason`: Docker's refusal of a copy into a read-only volume or rootfs.
- `copy_owner`: the (uid, gid) a copy with copyUIDGID gives every entry, from the
  container's User and the rows of its /etc/passwd and /etc/group.
"""

from __future__ import annotations

import errno
import stat
from datetime import datetime, timezone
from typing import Callable

# Go's os.FileMode bits.
MODE_DIR = 1 << 31
MODE_SYMLINK = 1 << 27
MODE_DEVICE = 1 << 26
MODE_NAMED_PIPE = 1 << 25
MODE_SOCKET = 1 << 24
MODE_SETUID = 1 << 23
MODE_SETGID = 1 << 22
MODE_CHAR_DEVICE = 1 << 21
MODE_STICKY = 1 << 20

_KIND_BITS = {stat.S_IFDIR: MODE_DIR, stat.S_IFLNK: MODE_SYMLINK, stat.S_IFBLK: MODE_DEVICE,
              stat.S_IFCHR: MODE_DEVICE | MODE_CHAR_DEVICE, stat.S_IFIFO: MODE_NAMED_PIPE,
              stat.S_IFSOCK: MODE_SOCKET, stat.S_IFREG: 0}
MAX_SYMLINKS = 255  # moby's maxSymlinkLimit (it counts every component it walks)


def clean(path: str) -> str:
    """Go's filepath.Clean of "/" + path: absolute, no ".", "..", or repeated slashes."""
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


def base_name(path: str) -> str:
    """Go's filepath.Base: the last element, trailing slashes dropped; "/" for the root."""
    if path == "":
        return "."
    path = path.rstrip("/")
    if path == "":
        return "/"
    return path.rsplit("/", 1)[-1]


def preserve_trailing(cleaned: str, original: str) -> str:
    """Docker's PreserveTrailingDotOrSeparator: the trailing "/." or "/" of `original` put
    back on `cleaned`."""
    if base_name(cleaned) != "." and base_name(original) == ".":
        cleaned = (cleaned if cleaned.endswith("/") else cleaned + "/") + "."
    if not cleaned.endswith("/") and original.endswith("/"):
        cleaned += "/"
    return cleaned


def absolute(path: str) -> str:
    """The path as Docker reads a copy's path: cleaned below "/", with the trailing "/."
    or "/" of `path` kept."""
    return preserve_trailing(clean(path), path)


def archive_name(abs_path: str) -> str:
    """The name the archive of `abs_path` rebases its entries to: its base name ("." for
    "/."), or "" for the root (whose entries Docker then names "/", "/bin", ...)."""
    name = base_name(abs_path)
    return "" if name == "/" else name


def follow_in_scope(path: str, lstat: Callable[[str], object], readlink: Callable[[str], str]) -> str:
    """Every symlink in `path` followed inside the root "/", as moby's FollowSymlinkInScope:
    ".." never climbs above the root, an absolute link starts again from it, a component
    that does not exist is kept as it is. Other errors of `lstat` are raised."""
    resolved = ""   # what is resolved so far, raw ("a/b/../"), cleaned when used
    rest = path
    walked = 0
    while rest:
        if walked > MAX_SYMLINKS:
            raise OSError(errno.ELOOP, f"evalSymlinksInScope: too many links in {path}")
        walked += 1
        part, _, rest = rest.partition("/")
        if part == "":
            continue
        here = clean(resolved + part)
        if here == "/":
            resolved = ""
            continue
        try:
            st = lstat(here)
        except FileNotFoundError:
            resolved += part + "/"
            continue
        if not stat.S_ISLNK(st.st_mode):
            resolved += part + "/"
            continue
        target = readlink(here)
        if target.startswith("/"):
            resolved = ""
        rest = target + "/" + rest
    return clean(resolved)


def go_mode(st_mode: int) -> int:
    """The os.FileMode Go gives an lstat's st_mode: its kind and set-id bits as Go's own."""
    mode = st_mode & 0o777 | _KIND_BITS.get(stat.S_IFMT(st_mode), 0)
    if st_mode & stat.S_ISUID:
        mode |= MODE_SETUID
    if st_mode & stat.S_ISGID:
        mode |= MODE_SETGID
    if st_mode & stat.S_ISVTX:
        mode |= MODE_STICKY
    return mode


def go_time(ns: int) -> str:
    """A time in nanoseconds as Go's time.Time marshals to JSON (RFC 3339, nanoseconds with
    their trailing zeros dropped), in UTC."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    text = datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if fraction:
        text += "." + f"{fraction:09d}".rstrip("0")
    return text + "Z"


def _text(name: str) -> str:
    """A file name as Go's JSON has it: bytes that are not UTF-8 become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def path_stat(abs_path: str, st, link_target: str) -> dict:
    """Docker's container.PathStat of the lstat `st` of `abs_path`."""
    return {"name": _text(base_name(abs_path)), "size": st.st_size, "mode": go_mode(st.st_mode),
            "mtime": go_time(st.st_mtime_ns), "linkTarget": _text(link_target)}


def _inside(path: str, top: str) -> bool:
    top = clean(top)
    return top == "/" or path == top or path.startswith(top + "/")


def read_only_reason(abs_path: str, volumes: list[tuple[str, bool]], readonly_rootfs: bool) -> str | None:
    """Why Docker refuses a copy into `abs_path` (resolved), or None: the volume (or bind)
    it is in is read-only, or it is in no volume and the rootfs is read-only. Of nested
    volumes the innermost holds it."""
    path = clean(abs_path)
    holding = [(len(clean(dest)), rw) for dest, rw in volumes if _inside(path, dest)]
    if holding:
        return None if max(holding)[1] else "mounted volume is marked read-only"
    return "container rootfs is marked read-only" if readonly_rootfs else None


def _id(text: str) -> int | None:
    """A uid or gid as Docker reads one (a 32-bit number no larger than MaxInt32), else None."""
    if not text.isdigit() or not text.isascii():
        return None
    value = int(text)
    return value if value <= 0x7FFFFFFF else None


def copy_owner(user: str, passwd: list[list[str]], group: list[list[str]]) -> tuple[int, int] | None:
    """The (uid, gid) a copy with copyUIDGID gives what it writes, for the container's User
    (name or uid, then optionally ":" and a group name or gid), looked up in its passwd and
    group rows as moby's getUIDGID does; None when User is empty (the tar's owners stay).
    A name that is in neither file raises LookupError in Docker's words."""
    if not user:
        return None
    name, _, group_name = user.partition(":")
    uid = gid = 0
    if name:
        number = _id(name)
        rows = [r for r in passwd if len(r) > 3 and _id(r[2]) is not None and _id(r[3]) is not None]
        if number is None:
            row = next((r for r in rows if r[0] == name), None)
            if row is None:
                raise LookupError(f'failed to look up user "{name}" in container: '
                                  "no matching entries in passwd file")
            uid, gid = int(row[2]), int(row[3])
        else:
            row = next((r for r in rows if int(r[2]) == number), None)
            uid, gid = (int(row[2]), int(row[3])) if row is not None else (number, 0)
    if group_name:
        number = _id(group_name)
        if number is None:
            row = next((r for r in group if len(r) > 2 and r[0] == group_name and _id(r[2]) is not None), None)
            if row is None:
                raise LookupError(f'failed to look up group "{group_name}" in container: '
                                  "no matching entries in group file")
            number = int(row[2])
        gid = number
    return uid, gid
