"""The builder's read-only trees: a plain directory, an image's layers merged as overlayfs
merges them (whiteouts, opaque directories), symlinks resolved inside a tree, and --chown's
user and group lookup through a tree. The tests run as root (whiteouts are devices)."""

import os
import stat

import pytest

from services.builder import trees
from services.builder.trees import DirTree, LayeredTree, lookup_user
from services.common import errors


def write(path, data="x", mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(data)
    os.chmod(path, mode)


def whiteout(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))


def opaque(path):
    os.makedirs(path, exist_ok=True)
    os.setxattr(path, trees.OPAQUE_XATTR, b"y")


def read(tree, path):
    with tree.open(path) as fh:
        return fh.read().decode()


# ----------------------------------------------------------------------------- DirTree


def test_dir_tree_reads_entries_without_following_symlinks(tmp_path):
    write(tmp_path / "a/b.txt", "hello", 0o600)
    os.symlink("a", tmp_path / "link")
    os.symlink("b.txt", tmp_path / "a/flink")
    tree = DirTree(str(tmp_path))
    assert stat.S_IMODE(tree.lstat("a/b.txt").st_mode) == 0o600
    assert stat.S_ISDIR(tree.lstat("/a").st_mode)  # a leading "/" is ignored
    assert stat.S_ISLNK(tree.lstat("link").st_mode)
    assert tree.lstat("link/b.txt") is None  # a parent that is a symlink is not followed
    assert tree.lstat("a/b.txt/x") is None
    assert tree.lstat("nope") is None
    assert tree.listdir("") == ["a", "link"]
    assert tree.listdir("a") == ["b.txt", "flink"]
    assert read(tree, "a/b.txt") == "hello"
    assert tree.readlink("link") == "a"
    for path in ("a/flink", "link/b.txt", "a", "nope"):
        with pytest.raises(errors.BadParameter):
            tree.open(path)
    with pytest.raises(errors.BadParameter):
        tree.readlink("a/b.txt")
    with pytest.raises(errors.BadParameter):
        tree.listdir("a/b.txt")
    with pytest.raises(errors.BadParameter):
        tree.lstat("a/../..")  # paths come in clean


def test_open_of_a_fifo_neither_hangs_nor_reads(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(errors.BadParameter):
        DirTree(str(tmp_path)).open("fifo")


def test_a_zero_device_in_a_plain_directory_is_no_whiteout(tmp_path):
    whiteout(tmp_path / "dev0")
    assert stat.S_ISCHR(DirTree(str(tmp_path)).lstat("dev0").st_mode)


# ----------------------------------------------------------------------------- LayeredTree


@pytest.fixture
def image(tmp_path):
    """Three layers, top first: top, mid, base."""
    top, mid, base = (tmp_path / n for n in ("top", "mid", "base"))
    write(base / "etc/a", "base-a")
    write(base / "etc/b", "base-b")
    write(base / "opt/old/file", "old")
    write(base / "var/x", "base-x")
    write(base / "gone/deep/f", "f")
    write(base / "shadow/lower", "lower")
    write(mid / "etc/a", "mid-a")                # a file over a file
    whiteout(mid / "etc/b")                      # deleted
    opaque(mid / "opt")                          # replaced directory
    write(mid / "opt/new", "new")
    write(mid / "var", "now a file")             # a file over a directory
    whiteout(mid / "gone")
    write(top / "etc/c", "top-c")
    write(top / "gone/again", "back")            # made again above the whiteout
    os.makedirs(top / "shadow")
    os.chmod(top / "shadow", 0o700)
    return LayeredTree([str(top), str(mid), str(base)])


def test_layers_merge_as_overlayfs(image):
    assert image.listdir("") == ["etc", "gone", "opt", "shadow", "var"]
    assert image.listdir("etc") == ["a", "c"]
    assert read(image, "etc/a") == "mid-a"
    assert image.lstat("etc/b") is None
    assert image.listdir("opt") == ["new"]
    assert image.lstat("opt/old") is None
    assert stat.S_ISREG(image.lstat("var").st_mode)
    assert image.lstat("var/x") is None
    assert image.listdir("gone") == ["again"]
    assert image.lstat("gone/deep") is None
    # A directory's metadata is its top layer's; its content is the union.
    assert stat.S_IMODE(image.lstat("shadow").st_mode) == 0o700
    assert read(image, "shadow/lower") == "lower"


def test_a_whiteout_is_never_seen_as_an_entry(image):
    assert "b" not in image.listdir("etc")
    with pytest.raises(errors.BadParameter):
        image.open("etc/b")


def test_an_empty_image_has_an_empty_root():
    tree = LayeredTree([])
    assert stat.S_ISDIR(tree.lstat("").st_mode)
    assert tree.listdir("") == []
    assert tree.lstat("etc") is None


# ----------------------------------------------------------------------------- resolve


@pytest.fixture
def linked(tmp_path):
    write(tmp_path / "usr/lib/libc.so", "libc")
    os.symlink("usr/lib", tmp_path / "lib")             # relative
    os.symlink("/usr/lib", tmp_path / "abs")            # absolute: from the tree's root
    os.symlink("../../../../usr", tmp_path / "usr/up")  # .. stops at the root
    os.symlink("/etc/passwd", tmp_path / "host")        # never the host's /etc/passwd
    os.symlink("lib", tmp_path / "chain")
    os.symlink("loop2", tmp_path / "loop1")
    os.symlink("loop1", tmp_path / "loop2")
    os.symlink("self", tmp_path / "self")
    return DirTree(str(tmp_path))


@pytest.mark.parametrize("path, resolved", [
    ("lib/libc.so", "usr/lib/libc.so"),
    ("abs/libc.so", "usr/lib/libc.so"),
    ("chain", "usr/lib"),
    ("usr/up/lib", "usr/lib"),
    ("host", "etc/passwd"),
    ("lib/missing/deeper", "usr/lib/missing/deeper"),
    ("usr/lib", "usr/lib"),
    ("", ""),
])
def test_resolve_stays_inside_the_tree(linked, path, resolved):
    assert linked.resolve(path) == resolved


def test_resolve_can_leave_the_last_component(linked):
    assert linked.resolve("chain", follow_last=False) == "chain"
    assert linked.resolve("lib/libc.so", follow_last=False) == "usr/lib/libc.so"


@pytest.mark.parametrize("path", ["loop1", "self", "loop2/x"])
def test_resolve_refuses_a_loop(linked, path):
    with pytest.raises(errors.BadParameter, match="too many levels of symbolic links"):
        linked.resolve(path)


def test_resolve_in_a_subtree_keeps_to_it(tmp_path):
    os.makedirs(tmp_path / "dest/etc")
    os.symlink("/etc", tmp_path / "dest/abs")
    os.symlink("../../../..", tmp_path / "dest/up")
    tree = DirTree(str(tmp_path))
    assert trees.resolve_in(tree, "abs/x", root="dest") == "dest/etc/x"
    assert trees.resolve_in(tree, "up/etc", root="dest") == "dest/etc"


def test_resolve_through_layers(image, tmp_path):
    extra = tmp_path / "links"
    os.makedirs(extra)
    os.symlink("/etc", extra / "conf")
    tree = LayeredTree([str(extra), *image._roots])
    assert tree.resolve("conf/a") == "etc/a"
    assert read(tree, tree.resolve("conf/a")) == "mid-a"


# ----------------------------------------------------------------------------- --chown

PASSWD = """root:x:0:0::/root:/bin/sh
bin:x:1:1::/bin:/bin/false
wwwwww:x:21:33::/bin:/bin/false
unicorn:x:1001:1002::/bin:/bin/false
"""
GROUP = """root:x:0:
bin:x:1:
wwwwww:x:33:
unicorn:x:1002:
somegrp:x:5555:
"""


@pytest.fixture
def users(tmp_path):
    write(tmp_path / "real/passwd", PASSWD)
    write(tmp_path / "etc/group", GROUP)
    os.symlink("/real/passwd", tmp_path / "etc/passwd")  # resolved inside the tree
    return DirTree(str(tmp_path))


@pytest.mark.parametrize("spec, ids", [
    ("1", (1, 1)),           # no group: the user part is the group too
    ("0:1", (0, 1)),
    ("bin:5555", (1, 5555)),
    ("0:unicorn", (0, 1002)),
    ("unicorn", (1001, 1002)),
    ("wwwwww", (21, 33)),
    ("1000", (1000, 1000)),  # numbers need no lookup
])
def test_lookup_user(users, spec, ids):
    assert lookup_user(users, spec) == ids


@pytest.mark.parametrize("spec, message", [
    ("bob:1:555", "invalid chown string format: bob:1:555"),
    ("bob", "can't find uid for user bob: no such user: bob"),
    ("root:bob", "can't find gid for group bob: no such group: bob"),
    ("1:-1", "can't find gid for group -1: -1 is out of range"),
])
def test_lookup_user_errors_are_dockers(users, spec, message):
    with pytest.raises(errors.BadParameter) as err:
        lookup_user(users, spec)
    assert err.value.message == ("unable to convert uid/gid chown string to host mapping: "
                                 + message)


def test_lookup_user_without_passwd(tmp_path):
    with pytest.raises(errors.BadParameter, match="open /etc/passwd: no such file"):
        lookup_user(DirTree(str(tmp_path)), "app")
    with pytest.raises(errors.BadParameter, match="open /etc/passwd: no such file"):
        lookup_user(None, "app")
    assert lookup_user(None, "7:8") == (7, 8)


def test_lookup_user_sees_the_merged_image(tmp_path):
    write(tmp_path / "base/etc/passwd", "app:x:10:10::/:/bin/sh\n")
    write(tmp_path / "base/etc/group", "app:x:10:\n")
    whiteout(tmp_path / "top/etc/passwd")
    tree = LayeredTree([str(tmp_path / "top"), str(tmp_path / "base")])
    with pytest.raises(errors.BadParameter, match="no such file"):
        lookup_user(tree, "app")
    assert lookup_user(LayeredTree([str(tmp_path / "base")]), "app") == (10, 10)
