"""Hostile layers imported with POST /images/create?fromSrc=-: refused or contained, never out.

Every layer here is built entry by entry and imported under a repository name of its own.
Each must either be refused (400 with a message saying why, and nothing left behind: no
layer directory, no staging, no image) or be contained (200, and what it wrote is inside
its tree under <data-root>/layers/). Sentinel files outside the data root (a directory
of this module's own and a file at a fixed absolute path) are checked after every
import: content, mode, owner, times, inode, link count and xattrs unchanged, and no name
carrying this run's marker appeared anywhere a layer aimed at.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import shutil
import stat
import tarfile
import tempfile
from dataclasses import dataclass

import pytest

from .images import TarBuilder, compress

PID = os.getpid()
# In every name a hostile layer tries to make outside its tree; found anywhere else, it escaped.
MARK = f"dyh{PID}"
SENTINEL_FILE = f"/tmp/dockyard-sentinel-{PID}"
SENTINEL_UID = 4321
COMPRESSIONS = ("none", "gzip", "bzip2", "xz", "zstd")
_repos = itertools.count(1)


# ----------------------------------------------------------------------------- sentinels


def _xattrs(path: str) -> dict[str, bytes]:
    return {k: os.getxattr(path, k, follow_symlinks=False)
            for k in sorted(os.listxattr(path, follow_symlinks=False))}


def _state(path: str) -> dict:
    st = os.lstat(path)
    out = {"mode": st.st_mode, "uid": st.st_uid, "gid": st.st_gid, "size": st.st_size,
           "mtime": st.st_mtime_ns, "ino": st.st_ino, "nlink": st.st_nlink, "xattrs": _xattrs(path)}
    if stat.S_ISREG(st.st_mode):
        with open(path, "rb") as fh:
            out["content"] = fh.read()
    elif stat.S_ISDIR(st.st_mode):
        out["entries"] = sorted(os.listdir(path))
    return out


@dataclass
class Sentinels:
    dir: str
    file: str
    paths: list[str]
    before: dict[str, dict]

    def check(self) -> None:
        for path in self.paths:
            assert os.path.lexists(path), f"sentinel {path} is gone"
            assert _state(path) == self.before[path], f"sentinel {path} changed"


@pytest.fixture
def sentinels(daemon):
    """Fresh for every test, so one escape shows up in the test that made it and no other."""
    top = tempfile.mkdtemp(prefix="dockyard-sentinels-", dir="/tmp")
    secret = os.path.join(top, "secret")
    with open(secret, "wb") as fh:
        fh.write(b"do not touch\n")
    os.mkdir(os.path.join(top, "sub"), 0o750)
    inner = os.path.join(top, "sub", "inner")
    with open(inner, "wb") as fh:
        fh.write(b"inner sentinel\n")
    with open(SENTINEL_FILE, "wb") as fh:
        fh.write(b"sentinel at a fixed path\n")
    for path, mode in ((secret, 0o640), (inner, 0o600), (SENTINEL_FILE, 0o640)):
        os.chown(path, SENTINEL_UID, SENTINEL_UID)
        os.chmod(path, mode)
        os.setxattr(path, "user.sentinel", b"1")
        os.utime(path, (1_000_000_000, 1_000_000_000))
    for d in (os.path.join(top, "sub"), top):
        os.utime(d, (1_000_000_000, 1_000_000_000))
    # /etc/passwd is what a hardlink out would aim at first: its link count must not move.
    paths = [top, secret, os.path.join(top, "sub"), inner, SENTINEL_FILE, "/etc/passwd"]
    s = Sentinels(top, SENTINEL_FILE, paths, {p: _state(p) for p in paths})
    try:
        yield s
        s.check()
    finally:
        shutil.rmtree(top, ignore_errors=True)
        # What escaped (reported by the test that made it) is removed, not left for the next.
        for path in [SENTINEL_FILE, *escapes_found(daemon)]:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            elif os.path.lexists(path):
                os.unlink(path)


# ------------------------------------------------------------------------------ helpers


def layers_dir(daemon) -> str:
    return os.path.join(daemon.data_root, "layers")


def staging_dir(daemon) -> str:
    return os.path.join(daemon.data_root, "tmp", "registry")


def image_rows(daemon) -> list[dict]:
    r = daemon.get("/images/json?all=1")
    assert r.status == 200, r.body
    return r.json()


def new_repo(case: str) -> str:
    return f"hostile-{case}-{next(_repos)}"


def import_layer(daemon, body: bytes, repo: str):
    return daemon.request("POST", f"/images/create?fromSrc=-&repo={repo}&tag=hostile", body=body)


def escapes_found(daemon, targets=()) -> list[str]:
    """Paths outside every layer tree where this run's marker (or a named target) shows up."""
    found = [p for p in targets if os.path.lexists(p)]
    layers = layers_dir(daemon)
    for top, dirs, files in os.walk(daemon.root):
        if top == daemon.data_root:
            dirs[:] = [d for d in dirs if os.path.join(top, d) != layers]
        found += [os.path.join(top, n) for n in dirs + files if MARK in n]
    for top in ("/", "/tmp", "/tmp/tmp", "/etc", os.path.dirname(daemon.root)):
        if os.path.isdir(top):
            found += [os.path.join(top, n) for n in os.listdir(top) if MARK in n]
    return sorted(set(found))


def assert_refused(daemon, sentinels, body: bytes, *why: str, case: str = "refused",
                   targets=()) -> str:
    layers_before = sorted(os.listdir(layers_dir(daemon)))
    images_before = image_rows(daemon)
    repo = new_repo(case)
    r = import_layer(daemon, body, repo)
    escaped = escapes_found(daemon, targets)
    assert escaped == [], f"the layer wrote outside its tree: {escaped} (reply {r.status} {r.body!r})"
    sentinels.check()
    assert r.status == 400, (r.status, r.body)
    message = r.json()["message"]
    for part in why:
        assert part in message, message
    assert sorted(os.listdir(layers_dir(daemon))) == layers_before, "a refused layer left a tree"
    assert os.listdir(staging_dir(daemon)) == [], "a refused layer left staging behind"
    images_after = image_rows(daemon)
    assert images_after == images_before
    assert repo not in json.dumps(images_after)
    sentinels.check()
    assert escapes_found(daemon, targets) == []
    return message


def messages(body: bytes) -> list[dict]:
    return [json.loads(line) for line in body.split(b"\r\n") if line.strip()]


def assert_contained(daemon, sentinels, body: bytes, plain: bytes | None = None,
                     case: str = "contained", targets=()) -> str:
    """Import `body`, check it succeeded and wrote nowhere else; return its layer tree."""
    repo = new_repo(case)
    r = import_layer(daemon, body, repo)
    escaped = escapes_found(daemon, targets)
    assert escaped == [], f"the layer wrote outside its tree: {escaped} (reply {r.status} {r.body!r})"
    sentinels.check()
    assert r.status == 200, (r.status, r.body)
    msgs = messages(r.body)
    assert msgs and all("error" not in m for m in msgs), msgs
    image_hex = msgs[-1]["status"]
    assert len(image_hex) == 64 and int(image_hex, 16) >= 0, msgs
    inspect = daemon.get(f"/v1.45/images/sha256:{image_hex}/json")
    assert inspect.status == 200, inspect.body
    diff_ids = inspect.json()["RootFS"]["Layers"]
    assert len(diff_ids) == 1
    plain = body if plain is None else plain
    assert diff_ids[0] == "sha256:" + hashlib.sha256(plain).hexdigest()
    # One layer: its chain id is its diff id.
    tree = os.path.join(layers_dir(daemon), diff_ids[0].removeprefix("sha256:"))
    assert os.path.isdir(tree) and not os.path.islink(tree)
    assert os.listdir(staging_dir(daemon)) == []
    assert any(row["Repository"] == repo and row["Tag"] == "hostile" for row in image_rows(daemon))
    sentinels.check()
    assert escapes_found(daemon, targets) == []
    return tree


def entry(t: TarBuilder, name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"",
          pax: dict | None = None, **attrs) -> TarBuilder:
    """A raw entry with any header values, hostile ones included."""
    info = tarfile.TarInfo(name)
    info.type, info.size, info.mtime = kind, len(data), t.mtime
    for key, value in attrs.items():
        setattr(info, key, value)
    if pax:
        info.pax_headers = dict(pax)
    t.tf.addfile(info, io.BytesIO(data) if data else None)
    return t


def in_tree(tree: str, rel: str) -> str:
    """`rel` inside the layer tree, its parents real directories of the tree (no symlink)."""
    path = os.path.join(tree, rel)
    assert os.path.realpath(os.path.dirname(path)) == os.path.join(tree, os.path.dirname(rel)).rstrip("/")
    assert os.path.lexists(path), f"{rel} is not in the layer"
    return path


# ------------------------------------------------------------------- names that climb


@pytest.mark.parametrize("name", [
    f"../../../../tmp/{MARK}-dotdot",
    "../" * 24 + f"tmp/{MARK}-deep",
    f"a/../../{MARK}-sneaky",
    f"./../{MARK}-dot",
    f"a/b/../../../tmp/{MARK}-climb",
    f"/../tmp/{MARK}-rootdotdot",
])
def test_dotdot_name_is_refused(daemon, sentinels, name):
    body = TarBuilder().dir("a").file(name, b"escaped").bytes()
    targets = [os.path.normpath(os.path.join(base, name)) for base in (
        os.path.join(daemon.data_root, "layers", "x"),
        os.path.join(daemon.data_root, "tmp", "registry", "x", "tree"), "/")]
    assert_refused(daemon, sentinels, body, "points outside the layer", repr(name),
                   case="dotdot", targets=targets)


@pytest.mark.parametrize("kind", ["dir", "symlink", "hardlink", "fifo"])
def test_dotdot_name_of_any_type_is_refused(daemon, sentinels, kind):
    name = f"../../../../tmp/{MARK}-{kind}"
    t = TarBuilder().file("f", b"data")
    if kind == "dir":
        t.dir(name)
    elif kind == "symlink":
        t.symlink(name, "/etc/passwd")
    elif kind == "hardlink":
        t.hardlink(name, "f")
    else:
        t.device(name, tarfile.FIFOTYPE, 0, 0)
    assert_refused(daemon, sentinels, t.bytes(), "points outside the layer", case="dotdot-type",
                   targets=[f"/tmp/{MARK}-{kind}"])


@pytest.mark.parametrize("kind", [k for k in COMPRESSIONS if k != "none"])
def test_dotdot_name_is_refused_compressed(daemon, sentinels, kind):
    plain = TarBuilder().file(f"../../../../tmp/{MARK}-{kind}", b"escaped").bytes()
    assert_refused(daemon, sentinels, compress(plain, kind), "points outside the layer",
                   case=f"dotdot-{kind}", targets=[f"/tmp/{MARK}-{kind}"])


def test_absolute_name_is_contained(daemon, sentinels):
    name = f"/tmp/abs-{MARK}"
    body = TarBuilder().file(name, b"absolute", mode=0o600).file(f"/{MARK}-top", b"top").bytes()
    tree = assert_contained(daemon, sentinels, body, case="absolute",
                            targets=[name, f"/{MARK}-top"])
    landed = in_tree(tree, f"tmp/abs-{MARK}")
    st = os.lstat(landed)
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    with open(landed, "rb") as fh:
        assert fh.read() == b"absolute"
    with open(in_tree(tree, f"{MARK}-top"), "rb") as fh:
        assert fh.read() == b"top"
    assert sorted(os.listdir(tree)) == sorted(["tmp", f"{MARK}-top"])


def test_absolute_symlink_name_is_contained(daemon, sentinels):
    body = TarBuilder().symlink(f"/tmp/{MARK}-abslink", "/etc/shadow").bytes()
    tree = assert_contained(daemon, sentinels, body, case="abslink",
                            targets=[f"/tmp/{MARK}-abslink"])
    link = in_tree(tree, f"tmp/{MARK}-abslink")
    assert os.path.islink(link) and os.readlink(link) == "/etc/shadow"


# ----------------------------------------------------------- writing through symlinks


def test_file_through_symlink_to_root_is_refused(daemon, sentinels):
    body = TarBuilder().symlink("evil", "/").file(f"evil/tmp/{MARK}-pwned", b"pwned").bytes()
    assert_refused(daemon, sentinels, body, f"evil/tmp/{MARK}-pwned", "'evil'", "not a directory",
                   case="symlink-root", targets=[f"/tmp/{MARK}-pwned"])


@pytest.mark.parametrize("rest", [f"{MARK}-new", "secret", "sub/inner", f"sub/{MARK}-deeper"])
def test_write_through_symlink_to_sentinel_dir_is_refused(daemon, sentinels, rest):
    body = TarBuilder().symlink("s", sentinels.dir).file(f"s/{rest}", b"overwritten", mode=0o777,
                                                         uid=0, gid=0).bytes()
    assert_refused(daemon, sentinels, body, "'s'", "not a directory", case="symlink-sentinel",
                   targets=[os.path.join(sentinels.dir, f"{MARK}-new"),
                            os.path.join(sentinels.dir, "sub", f"{MARK}-deeper")])


@pytest.mark.parametrize("up", ["../../../../..", "../" * 20, ".."])
def test_relative_symlink_climbing_out_is_refused(daemon, sentinels, up):
    body = TarBuilder().symlink("up", up).file(f"up/tmp/{MARK}-up", b"up").bytes()
    assert_refused(daemon, sentinels, body, "'up'", "not a directory", case="symlink-up",
                   targets=[f"/tmp/{MARK}-up"])


def test_symlinked_parent_directory_is_refused(daemon, sentinels):
    body = TarBuilder().dir("a").symlink("a/b", "/tmp").file(f"a/b/{MARK}-c", b"c").bytes()
    assert_refused(daemon, sentinels, body, f"a/b/{MARK}-c", "'b'", case="symlink-parent",
                   targets=[f"/tmp/{MARK}-c"])


def test_symlinked_parent_to_sentinel_dir_is_refused(daemon, sentinels):
    body = TarBuilder().dir("a").dir("a/b").symlink("a/b/c", sentinels.dir) \
        .file("a/b/c/secret", b"overwritten").bytes()
    assert_refused(daemon, sentinels, body, "'c'", case="symlink-parent-sentinel")


def test_directory_entry_through_symlink_is_refused(daemon, sentinels):
    body = TarBuilder().symlink("evil", "/tmp").dir(f"evil/{MARK}-dir").bytes()
    assert_refused(daemon, sentinels, body, "'evil'", case="symlink-dir",
                   targets=[f"/tmp/{MARK}-dir"])


def test_symlink_then_directory_of_same_name_is_contained(daemon, sentinels):
    body = TarBuilder().symlink("evil", "/tmp").dir("evil", mode=0o700) \
        .file(f"evil/{MARK}-d", b"inside").bytes()
    tree = assert_contained(daemon, sentinels, body, case="symlink-then-dir",
                            targets=[f"/tmp/{MARK}-d"])
    evil = in_tree(tree, "evil")
    st = os.lstat(evil)
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700
    with open(os.path.join(evil, f"{MARK}-d"), "rb") as fh:
        assert fh.read() == b"inside"


def test_directory_replaced_by_symlink_is_contained_and_not_followed(daemon, sentinels):
    # The directory's time is set last; by then it is a symlink, which is left alone.
    body = TarBuilder().dir("d").file("d/x", b"x").symlink("d", sentinels.dir).bytes()
    tree = assert_contained(daemon, sentinels, body, case="dir-then-symlink")
    d = in_tree(tree, "d")
    assert os.path.islink(d) and os.readlink(d) == sentinels.dir


def test_directory_replaced_by_symlink_then_written_through_is_refused(daemon, sentinels):
    body = TarBuilder().dir("d").symlink("d", "/tmp").file(f"d/{MARK}-through", b"x").bytes()
    assert_refused(daemon, sentinels, body, "'d'", case="dir-symlink-write",
                   targets=[f"/tmp/{MARK}-through"])


@pytest.mark.parametrize("target", ["sentinel-file", "sentinel-secret", "/etc/passwd"])
def test_symlink_then_file_of_same_name_is_contained(daemon, sentinels, target):
    points_at = {"sentinel-file": sentinels.file,
                 "sentinel-secret": os.path.join(sentinels.dir, "secret")}.get(target, target)
    body = TarBuilder().symlink("s", points_at).file("s", b"replaced", mode=0o4777).bytes()
    tree = assert_contained(daemon, sentinels, body, case="symlink-then-file")
    s = in_tree(tree, "s")
    st = os.lstat(s)
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o4777
    with open(s, "rb") as fh:
        assert fh.read() == b"replaced"


def test_file_through_a_file_is_refused(daemon, sentinels):
    body = TarBuilder().file("f", b"plain").file(f"f/{MARK}", b"x").bytes()
    assert_refused(daemon, sentinels, body, "'f'", "not a directory", case="through-file")


# ------------------------------------------------------------------------- hardlinks


@pytest.mark.parametrize("with_dirs", [False, True], ids=["bare", "with-parents"])
@pytest.mark.parametrize("target", ["/etc/passwd", SENTINEL_FILE, "../../../../etc/passwd",
                                    "../" * 24 + "etc/passwd", "../" * 24 + SENTINEL_FILE[1:],
                                    "etc/passwd"])
def test_hardlink_to_host_file_is_refused(daemon, sentinels, target, with_dirs):
    t = TarBuilder()
    if with_dirs:  # parents present in the layer, so only the file itself is missing
        t.dir("etc").dir("tmp")
    body = t.hardlink("link", target).bytes()
    message = assert_refused(daemon, sentinels, body, case="hardlink-host")
    assert ("does not exist" in message or "not in this layer" in message
            or "points outside the layer" in message), message


def test_hardlink_through_symlink_is_refused(daemon, sentinels):
    body = TarBuilder().symlink("s", "/etc").hardlink("l", "s/passwd").bytes()
    assert_refused(daemon, sentinels, body, "'s'", "not a directory", case="hardlink-symlink")


def test_hardlink_through_symlink_to_sentinel_dir_is_refused(daemon, sentinels):
    body = TarBuilder().symlink("s", sentinels.dir).hardlink("l", "s/secret").bytes()
    assert_refused(daemon, sentinels, body, "'s'", case="hardlink-sentinel-dir")


def test_hardlink_to_symlink_links_the_symlink_itself(daemon, sentinels):
    body = TarBuilder().symlink("s", sentinels.file).hardlink("h", "s").bytes()
    tree = assert_contained(daemon, sentinels, body, case="hardlink-to-symlink")
    s, h = os.lstat(in_tree(tree, "s")), os.lstat(in_tree(tree, "h"))
    assert stat.S_ISLNK(h.st_mode) and h.st_ino == s.st_ino and h.st_nlink == 2
    assert os.readlink(in_tree(tree, "h")) == sentinels.file


def test_hardlink_to_directory_is_refused(daemon, sentinels):
    body = TarBuilder().dir("d").hardlink("l", "d").bytes()
    assert_refused(daemon, sentinels, body, "points at a directory", case="hardlink-dir")


def test_hardlink_to_missing_entry_is_refused(daemon, sentinels):
    body = TarBuilder().dir("d").hardlink("l", "d/nothing").bytes()
    assert_refused(daemon, sentinels, body, "not in this layer", case="hardlink-missing")


def test_hardlink_to_layer_root_is_refused(daemon, sentinels):
    body = TarBuilder().hardlink("l", "./").bytes()
    assert_refused(daemon, sentinels, body, "layer root", case="hardlink-root")


# ------------------------------------------------------------------------- whiteouts


@pytest.mark.parametrize("name", [".wh.", ".wh..", ".wh...", "d/.wh..", "d/.wh...", ".wh..wh.x/.wh.."])
def test_bad_whiteout_name_is_refused(daemon, sentinels, name):
    body = TarBuilder().dir("d").file(name).bytes()
    assert_refused(daemon, sentinels, body, "invalid whiteout name", case="bad-whiteout")


def test_whiteout_through_symlink_is_refused(daemon, sentinels):
    body = TarBuilder().symlink("evil", "/tmp").file(f"evil/.wh.{MARK}-something").bytes()
    assert_refused(daemon, sentinels, body, "'evil'", "not a directory", case="whiteout-symlink",
                   targets=[f"/tmp/{MARK}-something"])


def test_whiteout_of_sentinel_through_symlink_is_refused(daemon, sentinels):
    name = os.path.basename(sentinels.file)
    body = TarBuilder().symlink("evil", "/tmp").file(f"evil/.wh.{name}").bytes()
    assert_refused(daemon, sentinels, body, "'evil'", case="whiteout-sentinel")
    assert stat.S_ISREG(os.lstat(sentinels.file).st_mode)


@pytest.mark.parametrize("whiteout", [".wh.secret", ".wh.sub", ".wh..wh..opq"])
def test_whiteout_in_sentinel_dir_through_symlink_is_refused(daemon, sentinels, whiteout):
    body = TarBuilder().symlink("evil", sentinels.dir).file(f"evil/{whiteout}").bytes()
    assert_refused(daemon, sentinels, body, "'evil'", case="whiteout-sentinel-dir")
    assert "trusted.overlay.opaque" not in os.listxattr(sentinels.dir)


def test_whiteout_through_symlinked_parent_is_refused(daemon, sentinels):
    body = TarBuilder().dir("a").symlink("a/b", sentinels.dir).file("a/b/sub/.wh.inner").bytes()
    assert_refused(daemon, sentinels, body, "'b'", case="whiteout-parent")


# ---------------------------------------------------------------------------- xattrs


def test_trusted_overlay_xattrs_are_not_set(daemon, sentinels):
    hostile = {"trusted.overlay.opaque": "y", "trusted.overlay.redirect": "/etc",
               "trusted.overlay.origin": "x", "trusted.overlay.metacopy": "",
               "trusted.other": "t", "user.kept": "yes"}
    t = TarBuilder().file("f", b"data", xattrs=hostile)
    entry(t, "d", tarfile.DIRTYPE, mode=0o755,
          pax={f"SCHILY.xattr.{k}": v for k, v in hostile.items()})
    entry(t, "d/inner", data=b"inner", mode=0o644)
    entry(t, "fifo", tarfile.FIFOTYPE, mode=0o644, pax={"SCHILY.xattr.trusted.overlay.opaque": "y"})
    entry(t, "./", tarfile.DIRTYPE, mode=0o755, pax={"SCHILY.xattr.trusted.overlay.opaque": "y"})
    tree = assert_contained(daemon, sentinels, t.bytes(), case="xattrs")
    for rel in ("f", "d", "fifo", ""):
        path = in_tree(tree, rel) if rel else tree
        names = os.listxattr(path, follow_symlinks=False)
        assert not [n for n in names if n.startswith("trusted.")], (rel, names)
    for rel in ("f", "d"):
        assert os.getxattr(in_tree(tree, rel), "user.kept") == b"yes"


# ------------------------------------------------------------------- not a layer at all


@pytest.mark.parametrize("body, why", [
    (b"this is not a tar archive, just some text\n" * 40, "not a valid tar archive"),
    (b"x", "not a valid tar archive"),
    (b"\x1f\x8b" + b"junk" * 100, "the archive is corrupt"),
    (b"BZh9" + b"junk" * 100, "the archive is corrupt"),
    (b"\xfd7zXZ\x00" + b"junk" * 100, "the archive is corrupt"),
    (b"\x28\xb5\x2f\xfd" + b"junk" * 100, "the archive is corrupt"),
    (TarBuilder().file("big", b"0123456789" * 1000).bytes()[:3000], "not a valid tar archive"),
    (compress(TarBuilder().file("big", os.urandom(20000)).bytes(), "gzip")[:5000],
     "the archive is corrupt"),
    # A cut zstd frame decompresses to nothing without an error (see test_safetar.py): refused
    # as an empty tar today, so only the status is pinned here.
    (compress(TarBuilder().file("big", os.urandom(20000)).bytes(), "zstd")[:5000], ""),
], ids=["text", "one-byte", "gzip-junk", "bzip2-junk", "xz-junk", "zstd-junk", "truncated-tar",
        "truncated-gzip", "truncated-zstd"])
def test_non_tar_body_is_refused(daemon, sentinels, body, why):
    assert_refused(daemon, sentinels, body, why, case="not-tar")


# ------------------------------------------- values the system refuses: a 400, not a 500


def test_name_component_too_long_is_refused(daemon, sentinels):
    body = TarBuilder().dir("d").file("d/" + "n" * 300, b"x").bytes()
    assert_refused(daemon, sentinels, body, "layer entry", "too long", case="long-name")


def test_symlink_target_too_long_is_refused(daemon, sentinels):
    body = TarBuilder().symlink("s", "t" * 5000).bytes()
    assert_refused(daemon, sentinels, body, "layer entry 's'", "too long", case="long-link")


@pytest.mark.parametrize("pax", [
    {"uid": "99999999999"}, {"uid": "-5"}, {"gid": "-2"},
    {"mtime": "1e300"}, {"mtime": "nan"}, {"mtime": "-inf"},
], ids=["uid-huge", "uid-negative", "gid-negative", "mtime-huge", "mtime-nan", "mtime-inf"])
@pytest.mark.parametrize("kind", [tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE],
                         ids=["file", "dir", "symlink"])
def test_out_of_range_header_value_is_refused(daemon, sentinels, pax, kind):
    t = TarBuilder()
    entry(t, "e", kind, data=b"x" if kind == tarfile.REGTYPE else b"",
          linkname="target" if kind == tarfile.SYMTYPE else "", pax=pax)
    assert_refused(daemon, sentinels, t.bytes(), "layer entry 'e'", "out of range",
                   case="out-of-range")


def test_device_number_out_of_range_is_refused(daemon, sentinels):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        info = tarfile.TarInfo("dev")
        info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 2 ** 40, 1
        tf.addfile(info)
    assert_refused(daemon, sentinels, buf.getvalue(), "layer entry 'dev'", "out of range",
                   case="dev-range")


@pytest.mark.parametrize("pax", [
    {"SCHILY.xattr.user.big": "v" * 70000},
    {"SCHILY.xattr.user." + "k" * 300: "v"},
    {"SCHILY.xattr.security.capability": "junk"},
], ids=["value-too-big", "name-too-long", "bad-capability"])
def test_xattr_the_kernel_refuses_is_refused(daemon, sentinels, pax):
    t = TarBuilder()
    entry(t, "x", data=b"x", pax=pax)
    assert_refused(daemon, sentinels, t.bytes(), "layer entry 'x'", case="bad-xattr")


# ------------------------------------------------------------- a good layer, exactly


def good_layer() -> bytes:
    t = TarBuilder()
    t.dir("owned", mode=0o750, uid=1234, gid=1234)
    t.file("owned/file", b"mine\n", mode=0o640, uid=1234, gid=1234, mtime=1_600_000_000)
    t.dir("shared", mode=0o2775, gid=1234)
    t.dir("bin")
    t.file("bin/suid", b"#!/bin/sh\necho root\n", mode=0o4755)
    t.file("secret", b"s3cret\n", mode=0o600, mtime=1_500_000_000)
    t.symlink("link", "bin/suid")
    t.hardlink("hard", "secret")
    t.device("null", tarfile.CHRTYPE, 1, 3, mode=0o666)
    t.device("fifo", tarfile.FIFOTYPE, 0, 0, mode=0o620)
    t.file("noted", b"n", xattrs={"user.note": "hello"})
    t.file(".wh.gone")
    t.file("replaced", b"first")
    t.file(".wh.replaced")
    t.dir("opq", mode=0o755)
    t.file("opq/kept", b"kept")
    t.file("opq/.wh..wh..opq")
    t.dir("sub")
    t.file("sub/.wh.hidden")
    return t.bytes()


def test_good_layer_is_extracted_exactly(daemon, sentinels):
    plain = good_layer()
    tree = assert_contained(daemon, sentinels, plain, case="good")
    assert os.path.realpath(tree).startswith(os.path.realpath(layers_dir(daemon)) + os.sep)
    assert sorted(os.listdir(tree)) == sorted(
        ["owned", "shared", "bin", "secret", "link", "hard", "null", "fifo", "noted", "gone",
         "replaced", "opq", "sub"])

    def lst(rel):
        return os.lstat(os.path.join(tree, rel))

    st = lst("owned")
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o750
    assert (st.st_uid, st.st_gid) == (1234, 1234)
    assert st.st_mtime == 1_700_000_000  # directory times are set after their contents
    st = lst("owned/file")
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o640
    assert (st.st_uid, st.st_gid) == (1234, 1234) and st.st_mtime == 1_600_000_000
    with open(os.path.join(tree, "owned/file"), "rb") as fh:
        assert fh.read() == b"mine\n"
    st = lst("shared")
    assert stat.S_IMODE(st.st_mode) == 0o2775 and (st.st_uid, st.st_gid) == (0, 1234)

    st = lst("bin/suid")
    assert stat.S_IMODE(st.st_mode) == 0o4755 and (st.st_uid, st.st_gid) == (0, 0)
    st = lst("secret")
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_mtime == 1_500_000_000

    hard, secret = lst("hard"), lst("secret")
    assert hard.st_ino == secret.st_ino and secret.st_nlink == 2

    st = lst("link")
    assert stat.S_ISLNK(st.st_mode) and os.readlink(os.path.join(tree, "link")) == "bin/suid"
    assert st.st_mtime == 1_700_000_000

    st = lst("null")
    assert stat.S_ISCHR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o666
    assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (1, 3)
    st = lst("fifo")
    assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o620

    assert os.getxattr(os.path.join(tree, "noted"), "user.note") == b"hello"

    for rel in ("gone", "replaced", "sub/hidden"):
        st = lst(rel)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0), rel
    for rel in (".wh.gone", ".wh.replaced", "sub/.wh.hidden", "opq/.wh..wh..opq"):
        assert not os.path.lexists(os.path.join(tree, rel)), rel

    opq = os.path.join(tree, "opq")
    assert os.getxattr(opq, "trusted.overlay.opaque") == b"y"
    assert os.listdir(opq) == ["kept"]
    assert "trusted.overlay.opaque" not in os.listxattr(os.path.join(tree, "sub"))


@pytest.mark.parametrize("kind", COMPRESSIONS)
def test_good_layer_in_every_compression(daemon, sentinels, kind):
    plain = TarBuilder().dir("etc").file("etc/hostname", f"{kind}\n".encode(), mode=0o644) \
        .symlink("etc/alias", "hostname").bytes()
    tree = assert_contained(daemon, sentinels, compress(plain, kind), plain=plain, case=f"good-{kind}")
    with open(os.path.join(tree, "etc/hostname"), "rb") as fh:
        assert fh.read() == f"{kind}\n".encode()
    assert os.readlink(os.path.join(tree, "etc/alias")) == "hostname"


def test_nothing_left_behind(daemon, sentinels):
    """After the whole suite: staging empty, every layer tree recorded by an image."""
    assert os.listdir(staging_dir(daemon)) == []
    assert escapes_found(daemon) == []
    sentinels.check()
