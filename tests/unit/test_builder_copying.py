"""COPY and ADD of the classic builder planned into one layer tar, read back entry by entry:
Docker's source and destination rules, owners, --chmod, the cache checksum, ADD's archive
unpacking (hostile archives included) and the layer's own rules (parents of the image kept,
relative names only). Every layer is also unpacked by the store's extractor.
The tests run as root: files get other owners, whiteouts are devices."""

import bz2
import gzip
import io
import lzma
import os
import shutil
import stat
import itertools
import tarfile

import pytest

from services.builder import trees
from services.builder.copying import plan_copy
from services.builder.trees import DirTree, LayeredTree
from services.common import errors, safetar


def write(path, data="x", mode=0o644, mtime=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data.encode() if isinstance(data, str) else data)
    os.chmod(path, mode)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def plan(sources, dest, ctx, image=None, **kw):
    kw.setdefault("workdir", "/")
    kw.setdefault("owner", None)
    kw.setdefault("chmod", None)
    kw.setdefault("add", False)
    kw.setdefault("src_is_context", True)
    src = kw.pop("src", None) or DirTree(str(ctx))
    return plan_copy(sources, dest, src=src, image=image, **kw)


_EXTRACTED = itertools.count()


class Layer:
    """A written layer: its members by name, their bytes, and the store's extraction."""

    def __init__(self, copy_plan, tmp_path):
        buf = io.BytesIO()
        copy_plan.write(buf)
        self.raw = buf.getvalue()
        with tarfile.open(fileobj=io.BytesIO(self.raw)) as tf:
            self.order = [m.name.rstrip("/") for m in tf]
            self.members = {m.name.rstrip("/"): m for m in tf}
            self.data = {m.name: tf.extractfile(m).read() for m in tf if m.isreg()}
        for name in self.order:  # the layer's own rule: relative names, nothing climbs
            assert not name.startswith("/") and ".." not in name.split("/"), name
        self.root = tmp_path / f"extracted-{next(_EXTRACTED)}"
        os.makedirs(self.root)
        safetar.extract_layer(io.BytesIO(self.raw), str(self.root))

    def __getitem__(self, name):
        return self.members[name]

    def __contains__(self, name):
        return name in self.members

    def text(self, name):
        return self.data[name].decode()


def layer(copy_plan, tmp_path):
    return Layer(copy_plan, tmp_path)


@pytest.fixture
def ctx(tmp_path):
    root = tmp_path / "ctx"
    write(root / "a.txt", "aaa", 0o640, mtime=1_000_000)
    write(root / "b.txt", "bbb")
    write(root / "c.md", "ccc")
    write(root / "dir/one", "1", 0o755)
    write(root / "dir/sub/two", "2")
    os.symlink("../a.txt", root / "dir/lnk")
    os.symlink("a.txt", root / "alink")
    os.symlink("dir", root / "dlink")
    os.symlink("/etc/passwd", root / "host")
    for path in (root / "a.txt", root / "dir/one"):
        os.chown(path, 1234, 1234)
    return root


@pytest.fixture
def image(tmp_path):
    """An image with /usr (0700, 5:6) and /link -> /usr, /file a regular file."""
    base = tmp_path / "img"
    write(base / "usr/bin/sh", "sh")
    os.chmod(base / "usr", 0o700)
    os.chown(base / "usr", 5, 6)
    os.utime(base / "usr", (2_000_000, 2_000_000))
    os.symlink("/usr", base / "link")
    os.symlink("../../../usr", base / "up")
    write(base / "file", "f")
    return LayeredTree([str(base)])


# ----------------------------------------------------------------------------- files


def test_a_file_to_a_new_path(ctx, tmp_path):
    out = layer(plan(["a.txt"], "/x/y/z.txt", ctx), tmp_path)
    assert out.order == ["x", "x/y", "x/y/z.txt"]
    assert (out["x"].mode, out["x"].uid, out["x/y"].mode) == (0o755, 0, 0o755)
    f = out["x/y/z.txt"]
    assert (f.mode, f.uid, f.gid, f.mtime) == (0o640, 0, 0, 1_000_000)  # owner root, mtime kept
    assert out.text("x/y/z.txt") == "aaa"
    assert (out.root / "x/y/z.txt").read_text() == "aaa"


def test_a_file_into_a_directory(ctx, image, tmp_path):
    assert "d/a.txt" in layer(plan(["a.txt"], "/d/", ctx), tmp_path)
    # An existing directory takes the file inside it, without a trailing "/".
    out = layer(plan(["a.txt"], "/usr", ctx, image), tmp_path)
    assert out.order == ["usr", "usr/a.txt"]
    # Relative to WORKDIR.
    assert "app/sub/a.txt" in layer(plan(["a.txt"], "sub/", ctx, workdir="/app"), tmp_path)
    assert "usr/a.txt" in layer(plan(["a.txt"], ".", ctx, image, workdir="/usr"), tmp_path)
    assert "usr/bin/a.txt" in layer(plan(["a.txt"], "../usr/bin", ctx, image, workdir="/x"),
                                    tmp_path)


def test_existing_parents_keep_the_images_metadata(ctx, image, tmp_path):
    out = layer(plan(["a.txt"], "/usr/bin/new/", ctx, image), tmp_path)
    usr, bin_, new = out["usr"], out["usr/bin"], out["usr/bin/new"]
    assert (usr.mode, usr.uid, usr.gid, usr.mtime) == (0o700, 5, 6, 2_000_000)
    assert bin_.mode == stat.S_IMODE(os.lstat(image._roots[0] + "/usr/bin").st_mode)
    assert (new.mode, new.uid) == (0o755, 0)
    assert out.order == ["usr", "usr/bin", "usr/bin/new", "usr/bin/new/a.txt"]


def test_the_destination_follows_image_symlinks_inside_the_image(ctx, image, tmp_path):
    assert "usr/a.txt" in layer(plan(["a.txt"], "/link/", ctx, image), tmp_path)
    assert "usr/x/a.txt" in layer(plan(["a.txt"], "/up/x/", ctx, image), tmp_path)
    assert "usr/renamed" in layer(plan(["a.txt"], "/link/renamed", ctx, image), tmp_path)


def test_a_file_over_a_file_and_a_path_through_a_file(ctx, image, tmp_path):
    out = layer(plan(["b.txt"], "/file", ctx, image), tmp_path)
    assert out.text("file") == "bbb"
    with pytest.raises(errors.BadParameter, match="failed to copy files: mkdir /file: not a dir"):
        plan(["b.txt"], "/file/x", ctx, image)
    with pytest.raises(errors.BadParameter, match="mkdir /file: not a directory"):
        plan(["dir"], "/file", ctx, image)


# ----------------------------------------------------------------------------- directories


def test_a_directory_copies_its_contents(ctx, tmp_path):
    out = layer(plan(["dir"], "/opt/", ctx), tmp_path)
    assert out.order == ["opt", "opt/lnk", "opt/one", "opt/sub", "opt/sub/two"]
    assert out["opt/lnk"].issym() and out["opt/lnk"].linkname == "../a.txt"  # not followed
    assert out["opt/one"].mode == 0o755 and out["opt/one"].uid == 0
    assert out.text("opt/sub/two") == "2"
    # The context root itself.
    whole = layer(plan(["."], "/", ctx), tmp_path)
    assert {"a.txt", "dir", "dir/sub/two", "alink"} <= set(whole.order)
    assert whole["alink"].issym()


def test_symlinks_named_as_sources_are_followed_inside_the_context(ctx, tmp_path):
    out = layer(plan(["alink"], "/d/", ctx), tmp_path)
    assert out["d/alink"].isreg() and out.text("d/alink") == "aaa"  # the link's name
    out = layer(plan(["dlink"], "/d/", ctx), tmp_path)  # a directory's contents
    assert "d/one" in out and "d/dlink" not in out
    # /etc/passwd is the context's, which has none: never the host's.
    with pytest.raises(errors.BadParameter, match="file not found in build context"):
        plan(["host"], "/d/", ctx)


def test_hard_links_inside_a_directory_stay_links(ctx, tmp_path):
    os.link(ctx / "dir/one", ctx / "dir/sub/again")
    out = layer(plan(["dir"], "/d", ctx), tmp_path)
    assert out["d/one"].isreg()
    assert out["d/sub/again"].islnk() and out["d/sub/again"].linkname == "d/one"
    assert os.stat(out.root / "d/one").st_ino == os.stat(out.root / "d/sub/again").st_ino


def test_whiteout_names_and_devices_cannot_go_in_a_layer(ctx, tmp_path):
    write(ctx / "bad/.wh.x", "")
    with pytest.raises(errors.BadParameter, match=r"\.wh\."):
        plan(["bad"], "/d/", ctx)
    with pytest.raises(errors.BadParameter, match=r"\.wh\."):
        plan(["a.txt"], "/.wh.a", ctx)
    shutil.rmtree(ctx / "bad")
    os.makedirs(ctx / "dev")
    os.mknod(ctx / "dev/zero", stat.S_IFCHR | 0o600, os.makedev(0, 0))
    with pytest.raises(errors.BadParameter, match="whiteout"):
        plan(["dev"], "/d/", ctx)


def test_a_directory_replaces_an_image_symlink_under_the_destination(ctx, tmp_path):
    base = tmp_path / "img2"
    os.makedirs(base / "opt")
    os.symlink("/etc", base / "opt/sub")
    out = layer(plan(["dir"], "/opt", ctx, LayeredTree([str(base)])), tmp_path)
    assert out["opt/sub"].isdir() and "opt/sub/two" in out  # tar's rule: not followed


# ----------------------------------------------------------------------------- rules


def test_several_sources_need_a_directory_destination(ctx, tmp_path):
    message = ("When using COPY with more than one source file, the destination must be a "
               "directory and end with a /")
    for sources in (["a.txt", "b.txt"], ["*.txt"]):
        with pytest.raises(errors.BadParameter) as err:
            plan(sources, "/d", ctx)
        assert err.value.message == message
    with pytest.raises(errors.BadParameter, match="When using ADD with"):
        plan(["a.txt", "b.txt"], "/d", ctx, add=True)
    out = layer(plan(["a.txt", "b.txt"], "/d/", ctx), tmp_path)
    assert {"d/a.txt", "d/b.txt"} <= set(out.order)


@pytest.mark.parametrize("pattern, found", [
    ("*.txt", ["a.txt", "b.txt"]),
    ("?.md", ["c.md"]),
    ("[ab].txt", ["a.txt", "b.txt"]),
    ("[^a].txt", ["b.txt"]),
    ("d*/s*", ["sub"]),              # a matched directory's contents
    ("/./*.md", ["c.md"]),
])
def test_wildcards_match_per_component(ctx, tmp_path, pattern, found):
    out = layer(plan([pattern], "/w/", ctx), tmp_path)
    assert sorted(n[2:] for n in out.order if n.count("/") == 1) == sorted(
        ["two"] if found == ["sub"] else found)


def test_special_characters_are_escaped_as_the_docs_say(ctx, tmp_path):
    write(ctx / "arr[0].txt", "s")
    out = layer(plan(["arr[[]0].txt"], "/w/", ctx), tmp_path)
    assert out.order == ["w", "w/arr[0].txt"]
    # A backslash hides a wildcard: the name is then taken as it is, as in Docker.
    write(ctx / "star\\*", "s")
    assert layer(plan(["star\\*"], "/w/", ctx), tmp_path).order == ["w", "w/star\\*"]


@pytest.mark.parametrize("pattern", ["*.nothing", "[", "*[^", "[z-a].txt", "[]a]"])
def test_a_wildcard_that_matches_nothing(ctx, pattern):
    with pytest.raises(errors.BadParameter) as err:
        plan([pattern], "/w/", ctx)
    assert err.value.message == "no source files were specified"


def test_a_wildcard_with_no_match_beside_another_source(ctx, tmp_path):
    assert "w/a.txt" in layer(plan(["*.none", "a.txt"], "/w/", ctx), tmp_path)


@pytest.mark.parametrize("source, shown", [
    ("../x", "../x"), ("a/../../x", "a/../../x"), ("/../etc", "../etc"), ("./../x", "../x")])
def test_no_source_outside_the_context(ctx, source, shown):
    with pytest.raises(errors.BadParameter) as err:
        plan([source], "/d/", ctx)
    assert err.value.message == f"forbidden path outside the build context: {shown} ()"


def test_a_missing_source(ctx, image):
    with pytest.raises(errors.BadParameter) as err:
        plan(["./nope"], "/d/", ctx)
    assert err.value.message == ("file not found in build context or excluded by "
                                 ".dockerignore: stat nope: file does not exist")
    with pytest.raises(errors.BadParameter) as err:
        plan(["nope"], "/d/", ctx, src=image, src_is_context=False)
    assert err.value.message == "stat nope: file does not exist"


def test_excluded_paths_are_not_there(ctx):
    hidden = lambda path: path == "dir" or path.endswith(".md")  # noqa: E731
    with pytest.raises(errors.BadParameter, match="file not found in build context"):
        plan(["dir/one"], "/d/", ctx, excluded=hidden)
    copied = plan(["."], "/d/", ctx, excluded=hidden)._layer.entries
    assert "d/a.txt" in copied and "d/c.md" not in copied and "d/one" not in copied


# ----------------------------------------------------------------------------- owners, modes


def test_chown_owns_what_is_copied_and_the_new_parents_of_a_file(ctx, image, tmp_path):
    out = layer(plan(["a.txt"], "/usr/new/deep/f", ctx, image, owner=(1000, 1001)), tmp_path)
    assert (out["usr/new/deep/f"].uid, out["usr/new/deep/f"].gid) == (1000, 1001)
    assert out["usr/new"].uid == 1000 and out["usr/new/deep"].uid == 1000
    assert out["usr"].uid == 5  # existing: unchanged


def test_chown_of_a_directory_copy_owns_a_new_dest_but_not_its_parents(ctx, image, tmp_path):
    out = layer(plan(["dir"], "/a/b/", ctx, image, owner=(7, 8)), tmp_path)
    assert out["a"].uid == 0 and (out["a/b"].uid, out["a/b"].gid) == (7, 8)
    assert all(out[n].uid == 7 for n in ("a/b/one", "a/b/sub", "a/b/sub/two", "a/b/lnk"))
    existing = layer(plan(["dir"], "/usr", ctx, image, owner=(7, 8)), tmp_path)
    assert existing["usr"].uid == 5


def test_copy_from_an_image_keeps_its_owners_unless_chown(ctx, image, tmp_path):
    stage_root = tmp_path / "stage"
    write(stage_root / "app/bin", "b")
    os.chown(stage_root / "app/bin", 33, 44)
    stage = LayeredTree([str(stage_root)])
    out = layer(plan(["/app"], "/srv", ctx, image, src=stage, src_is_context=False), tmp_path)
    assert (out["srv/bin"].uid, out["srv/bin"].gid) == (33, 44)
    out = layer(plan(["/app"], "/srv", ctx, image, src=stage, src_is_context=False,
                     owner=(1, 2)), tmp_path)
    assert (out["srv/bin"].uid, out["srv/bin"].gid) == (1, 2)


def test_chmod_sets_files_and_directories(ctx, tmp_path):
    out = layer(plan(["dir"], "/d/", ctx, chmod="0700"), tmp_path)
    assert out["d/one"].mode == 0o700 and out["d/sub"].mode == 0o700
    assert out["d/lnk"].issym()
    assert out["d"].mode == 0o755  # the destination made for it is not a copied directory


@pytest.mark.parametrize("chmod", ["abc", "u+x", "99", "17777", "-755", "0o755"])
def test_chmod_must_be_octal(ctx, chmod):
    with pytest.raises(errors.BadParameter, match="invalid chmod parameter"):
        plan(["a.txt"], "/d/", ctx, chmod=chmod)


# ----------------------------------------------------------------------------- checksum


def test_checksum_names_content_not_mtimes_or_owners(ctx, tmp_path):
    first = plan(["dir", "a.txt"], "/d/", ctx).checksum
    twin = tmp_path / "twin"
    shutil.copytree(ctx, twin, symlinks=True)
    for path, _, files in os.walk(twin):
        for name in files:
            os.utime(os.path.join(path, name), (5, 5))
            os.lchown(os.path.join(path, name), 99, 99)
    assert plan(["dir", "a.txt"], "/d/", twin).checksum == first
    assert first.startswith("multi:")
    assert plan(["a.txt"], "/d/", ctx).checksum.startswith("file:")
    assert plan(["dir"], "/d/", ctx).checksum.startswith("dir:")
    write(twin / "dir/sub/two", "changed")
    assert plan(["dir", "a.txt"], "/d/", twin).checksum != first
    os.chmod(twin / "a.txt", 0o600)
    again = plan(["a.txt"], "/d/", twin).checksum
    assert again != plan(["a.txt"], "/d/", ctx).checksum
    assert plan(["a.txt"], "/d/", twin, owner=(1, 1)).checksum != again
    assert plan(["a.txt"], "/d/", twin, chmod="644").checksum != again


def test_a_file_changed_after_planning_fails_the_write(ctx, tmp_path):
    copy = plan(["a.txt"], "/d/", ctx)
    write(ctx / "a.txt", "AAA")  # same size, other bytes
    with pytest.raises(errors.BadParameter, match="changed between planning and writing"):
        copy.write(io.BytesIO())
    copy = plan(["a.txt"], "/d/", ctx)
    write(ctx / "a.txt", "short")
    with pytest.raises(errors.BadParameter, match="changed"):
        copy.write(io.BytesIO())


# ----------------------------------------------------------------------------- ADD archives


def tar_bytes(members, compress=None):
    """members: (name, kind, payload) with kind file/dir/sym/link/chr/fifo."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            info.uid = info.gid = 42
            info.mtime = 3_000_000
            info.mode = 0o640
            if kind == "file":
                info.size = len(payload)
                tf.addfile(info, io.BytesIO(payload))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "link": tarfile.LNKTYPE,
                         "chr": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE}[kind]
            if kind in ("sym", "link"):
                info.linkname = payload
            tf.addfile(info)
    raw = buf.getvalue()
    return {None: raw, "gz": gzip.compress(raw), "bz2": bz2.compress(raw),
            "xz": lzma.compress(raw)}[compress]


SIMPLE = [("./", "dir", None), ("./top", "dir", None), ("./top/f", "file", b"data"),
          ("./top/s", "sym", "f")]


@pytest.mark.parametrize("compress", [None, "gz", "bz2", "xz"])
def test_add_unpacks_a_local_archive_by_its_content(ctx, tmp_path, compress):
    write(ctx / "data.bin", tar_bytes(SIMPLE, compress))
    out = layer(plan(["data.bin"], "/opt/x", ctx, add=True), tmp_path)
    assert out.order == ["opt", "opt/x", "opt/x/top", "opt/x/top/f", "opt/x/top/s"]
    f = out["opt/x/top/f"]
    assert (f.uid, f.gid, f.mode, f.mtime) == (42, 42, 0o640, 3_000_000)  # the archive's
    assert out.text("opt/x/top/f") == "data"
    assert out["opt/x"].uid == 0


def test_add_keeps_archive_owners_under_chown_and_copy_does_not_unpack(ctx, tmp_path):
    write(ctx / "a.tar.gz", tar_bytes(SIMPLE, "gz"))
    out = layer(plan(["a.tar.gz"], "/x/", ctx, add=True, owner=(5, 5)), tmp_path)
    assert out["x/top/f"].uid == 42
    out = layer(plan(["a.tar.gz"], "/x/", ctx), tmp_path)
    assert out.order == ["x", "x/a.tar.gz"]


@pytest.mark.parametrize("data", [b"just text\n", gzip.compress(b"not a tar"), b"",
                                  bytes(1024), b"\x1f\x8b broken gzip"])
def test_add_copies_anything_that_is_not_a_tar(ctx, tmp_path, data):
    write(ctx / "x.tar.gz", data)
    out = layer(plan(["x.tar.gz"], "/d/", ctx, add=True), tmp_path)
    assert out.order == ["d", "d/x.tar.gz"] and out.data["d/x.tar.gz"] == data


@pytest.mark.parametrize("members, message", [
    ([("../evil", "file", b"x")], "outside of"),
    ([("a/../../evil", "file", b"x")], "outside of"),
    ([("f", "file", b"x"), ("l", "link", "../../f")], "outside of"),
    ([("l", "link", "missing")], "no such file"),
    ([("d", "dir", None), ("l", "link", "d")], "directory"),
    ([(".wh.etc", "file", b"")], r"\.wh\."),
    ([("x/.wh..wh..opq", "file", b"")], r"\.wh\."),
    ([("zero", "chr", None)], "whiteout"),
])
def test_add_refuses_a_hostile_archive(ctx, members, message):
    write(ctx / "evil.tar", tar_bytes(members))
    with pytest.raises(errors.BadParameter, match=message):
        plan(["evil.tar"], "/dst/", ctx, add=True)


def test_archive_entries_stay_inside_the_destination(ctx, image, tmp_path):
    members = [("/abs/f", "file", b"abs"), ("/../root", "file", b"r"),
               ("link", "sym", "/usr"), ("link/through", "file", b"t"),
               ("up", "sym", "../../../../"), ("up/escape", "file", b"e")]
    write(ctx / "m.tar", tar_bytes(members))
    out = layer(plan(["m.tar"], "/dst", ctx, image, add=True), tmp_path)
    names = set(out.order)
    assert {"dst/abs/f", "dst/root", "dst/link", "dst/usr/through", "dst/up", "dst/escape"} <= names
    assert out["dst/link"].linkname == "/usr"  # kept as the archive says
    assert all(n == "dst" or n.startswith("dst/") for n in names)


def test_archive_parents_follow_image_symlinks_inside_the_destination(ctx, tmp_path):
    base = tmp_path / "merged-usr"
    os.makedirs(base / "usr/lib")
    os.symlink("usr/lib", base / "lib")
    write(ctx / "libs.tar", tar_bytes([("lib/x.so", "file", b"so")]))
    out = layer(plan(["libs.tar"], "/", ctx, LayeredTree([str(base)]), add=True), tmp_path)
    assert "usr/lib/x.so" in out and "lib" not in out


def test_archive_entries_replace_as_tar_does(ctx, image, tmp_path):
    base = tmp_path / "img3"
    write(base / "d/old", "old")
    members = [("d", "file", b"now a file"), ("d", "dir", None), ("d/new", "file", b"n"),
               ("f", "dir", None), ("f/inner", "file", b"i"), ("f", "file", b"plain")]
    write(ctx / "r.tar", tar_bytes(members))
    out = layer(plan(["r.tar"], "/", ctx, LayeredTree([str(base)]), add=True), tmp_path)
    assert out["d"].isdir() and "d/.wh..wh..opq" in out  # the image's d/old stays deleted
    assert not (out.root / "d/old").exists() and os.getxattr(out.root / "d",
                                                             safetar.OVERLAY_OPAQUE_XATTR) == b"y"
    assert out["f"].isreg() and "f/inner" not in out and out.text("f") == "plain"


def test_archive_hard_links_survive_their_target_being_replaced(ctx, tmp_path):
    members = [("x", "file", b"one"), ("w", "file", b"w"), ("y", "link", "x"),
               ("z", "link", "y"), ("x", "file", b"two")]
    write(ctx / "h.tar.xz", tar_bytes(members, "xz"))
    out = layer(plan(["h.tar.xz"], "/h/", ctx, add=True), tmp_path)
    assert out.text("h/y") == "one" and out.text("h/x") == "two"
    assert out["h/z"].islnk() and out["h/z"].linkname == "h/y"
    assert (out.root / "h/z").read_text() == "one"
    assert out.order.index("h/y") < out.order.index("h/z")


def test_an_archive_hard_link_to_an_image_file_copies_it_up(ctx, image, tmp_path):
    write(ctx / "l.tar", tar_bytes([("bin/sh2", "link", "bin/sh")]))
    out = layer(plan(["l.tar"], "/usr", ctx, image, add=True), tmp_path)
    assert out.text("usr/bin/sh") == "sh" and out["usr/bin/sh2"].linkname == "usr/bin/sh"


def test_add_into_a_file_fails(ctx, image):
    write(ctx / "s.tar", tar_bytes(SIMPLE))
    with pytest.raises(errors.BadParameter, match="mkdir /file: not a directory"):
        plan(["s.tar"], "/file", ctx, image, add=True)


def test_add_of_a_corrupt_archive_is_a_bad_parameter(ctx):
    raw = tar_bytes([("big", "file", b"x" * 5000)])
    write(ctx / "cut.tar", raw[:2048])
    with pytest.raises(errors.BadParameter):
        plan(["cut.tar"], "/d/", ctx, add=True)


def test_scratch_and_no_image(ctx, tmp_path):
    out = layer(plan(["a.txt"], "/a.txt", ctx, LayeredTree([])), tmp_path)
    assert out.order == ["a.txt"]
    assert trees.split("/a/./b/") == ["a", "b"]


# ----------------------------------------------------------------------------- more edges


@pytest.mark.parametrize("pattern, name, matches", [
    ("*", ".hidden", True), ("a*b", "axxb", True), ("a?c", "abc", True), ("a?c", "ac", False),
    ("[a-c]x", "bx", True), ("[a-c]x", "dx", False), ("[^a-c]x", "dx", True),
    ("[\\]]", "]", True), ("\\*", "*", True), ("\\*", "a", False), ("[a-]", "a", None),
    ("[-a]", "a", None), ("[]", "]", None), ("x\\", "x", None),
])
def test_go_match_per_component(pattern, name, matches):
    from services.builder import wildcards
    compiled = wildcards.compile_component(pattern)
    if matches is None:
        assert compiled is None
    else:
        assert bool(compiled.fullmatch(name)) is matches


def test_a_symlink_loop_at_the_destination(ctx, tmp_path):
    base = tmp_path / "loops"
    os.makedirs(base)
    os.symlink("b", base / "a")
    os.symlink("a", base / "b")
    with pytest.raises(errors.BadParameter, match="too many levels of symbolic links"):
        plan(["a.txt"], "/a/", ctx, LayeredTree([str(base)]))
    os.symlink("loop", ctx / "loop")
    with pytest.raises(errors.BadParameter, match="too many levels of symbolic links"):
        plan(["loop"], "/x/", ctx)


def test_nul_bytes_are_refused(ctx):
    for sources, dest in ((["a\0b"], "/x/"), (["a.txt"], "/x\0/")):
        with pytest.raises(errors.BadParameter, match="NUL"):
            plan(sources, dest, ctx)


def test_copy_from_a_stage_sees_its_merged_layers(ctx, tmp_path):
    top, base = tmp_path / "top", tmp_path / "base"
    write(base / "app/kept", "k")
    write(base / "app/deleted", "d")
    os.makedirs(top / "app")
    os.mknod(top / "app/deleted", stat.S_IFCHR, os.makedev(0, 0))
    write(top / "app/added", "a")
    stage = LayeredTree([str(top), str(base)])
    out = layer(plan(["app"], "/app", ctx, src=stage, src_is_context=False), tmp_path)
    assert out.order == ["app", "app/added", "app/kept"]


def test_a_replaced_hard_link_target_moves_to_its_link(ctx, tmp_path):
    os.link(ctx / "dir/one", ctx / "dir/sub/again")
    write(ctx / "other/one", "replacement")
    out = layer(plan(["dir", "other"], "/d/", ctx), tmp_path)
    assert out.text("d/one") == "replacement"
    assert out["d/sub/again"].isreg() and out.text("d/sub/again") == "1"
    assert out.order.index("d/sub/again") < out.order.index("d/one")


def test_a_large_file_streams_through(ctx, tmp_path):
    data = os.urandom(3 << 20) + b"tail"
    write(ctx / "big", data)
    out = layer(plan(["big"], "/big", ctx), tmp_path)
    assert out.data["big"] == data and (out.root / "big").read_bytes() == data
