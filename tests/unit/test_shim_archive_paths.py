"""docker cp's pure logic: Docker's path rules, the stat's shape (Go's FileMode and time), the
read-only refusals, copyUIDGID's owner, the helper's mountinfo parsing and import sealing,
and the stat header the api sends."""

from __future__ import annotations

import base64
import errno
import json
import os
import stat
import subprocess
import sys
from types import SimpleNamespace

import pytest

from services.api.archive import stat_header
from services.shim.archive import paths, view


@pytest.mark.parametrize("given, absolute", [
    ("/a/b", "/a/b"), ("a/b", "/a/b"), ("/a/b/", "/a/b/"), ("/a/b/.", "/a/b/."), ("/a/./b/../c", "/a/c"),
    ("/", "/"), ("/.", "/."), (".", "/."), ("/a/./", "/a/./"), ("//a//b//", "/a/b/"), ("/../x", "/x"),
    ("/a/..", "/"), ("/a/../", "/"),
])
def test_a_path_is_made_absolute_keeping_its_trailing_slash_or_dot(given, absolute):
    assert paths.absolute(given) == absolute


@pytest.mark.parametrize("path, base, rebased", [
    ("/a/b", "b", "b"), ("/a/b/", "b", "b"), ("/a/.", ".", "."), ("/", "/", ""), ("/.", ".", "."),
    ("/a/b/./", ".", "."),
])
def test_base_names_are_gos_and_the_root_is_rebased_to_nothing(path, base, rebased):
    assert paths.base_name(path) == base
    assert paths.archive_name(path) == rebased


def _fs(tree: dict):
    """lstat and readlink of a pretend tree: path -> "dir" | "file" | ("link", target)."""
    def lstat(path):
        parent = path.rsplit("/", 1)[0] or "/"
        if parent != "/" and tree.get(parent) == "file":
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", path)
        kind = tree.get(path)
        if kind is None:
            raise FileNotFoundError(errno.ENOENT, "no such file", path)
        mode = stat.S_IFDIR if kind == "dir" else stat.S_IFREG if kind == "file" else stat.S_IFLNK
        return SimpleNamespace(st_mode=mode | 0o755)

    def readlink(path):
        return tree[path][1]
    return lstat, readlink


TREE = {"/real": "dir", "/real/in": "dir", "/real/rel": ("link", "../real/in"), "/link": ("link", "/real"),
        "/dangling": ("link", "/nowhere/at/all"), "/root": ("link", "/"), "/climb": ("link", "../../../../real"),
        "/chain": ("link", "link/rel"), "/loop1": ("link", "/loop2"), "/loop2": ("link", "/loop1"),
        "/file": "file", "/through": ("link", "file/x")}


@pytest.mark.parametrize("path, target", [
    ("/link", "/real"), ("/real/rel", "/real/in"), ("/dangling", "/nowhere/at/all"), ("/root", "/"),
    ("/climb", "/real"), ("/chain", "/real/in"), ("/link/rel/more", "/real/in/more"), ("/real", "/real"),
])
def test_follow_in_scope_follows_every_link_and_never_climbs_out(path, target):
    assert paths.follow_in_scope(path, *_fs(TREE)) == target


def test_follow_in_scope_gives_up_on_a_loop_and_says_other_errors():
    with pytest.raises(OSError) as err:
        paths.follow_in_scope("/loop1", *_fs(TREE))
    assert err.value.errno == errno.ELOOP and "too many links" in str(err.value)
    with pytest.raises(NotADirectoryError):
        paths.follow_in_scope("/through", *_fs(TREE))


@pytest.mark.parametrize("kind, bits", [
    (stat.S_IFREG, 0), (stat.S_IFDIR, 1 << 31), (stat.S_IFLNK, 1 << 27), (stat.S_IFBLK, 1 << 26),
    (stat.S_IFCHR, (1 << 26) | (1 << 21)), (stat.S_IFIFO, 1 << 25), (stat.S_IFSOCK, 1 << 24),
])
def test_go_modes_of_each_kind(kind, bits):
    assert paths.go_mode(kind | 0o640) == bits | 0o640


def test_go_modes_of_set_id_and_sticky_bits():
    assert paths.go_mode(stat.S_IFREG | 0o4755) == (1 << 23) | 0o755
    assert paths.go_mode(stat.S_IFREG | 0o2755) == (1 << 22) | 0o755
    assert paths.go_mode(stat.S_IFDIR | 0o1777) == (1 << 31) | (1 << 20) | 0o777


@pytest.mark.parametrize("ns, text", [
    (0, "1970-01-01T00:00:00Z"), (1_500_000_000_123_456_789, "2017-07-14T02:40:00.123456789Z"),
    (1_500_000_000_120_000_000, "2017-07-14T02:40:00.12Z"), (1_500_000_000_000_000_001, "2017-07-14T02:40:00.000000001Z"),
])
def test_times_are_rfc3339_with_nanoseconds_as_go_marshals_them(ns, text):
    assert paths.go_time(ns) == text


def test_a_path_stat_has_dockers_keys_in_its_order():
    st = SimpleNamespace(st_size=38, st_mode=stat.S_IFREG | 0o644, st_mtime_ns=1_500_000_000_000_000_000)
    record = paths.path_stat("/vol1/data.txt", st, "")
    assert list(record) == ["name", "size", "mode", "mtime", "linkTarget"]
    assert record == {"name": "data.txt", "size": 38, "mode": 0o644, "mtime": "2017-07-14T02:40:00Z",
                      "linkTarget": ""}
    odd = os.fsdecode(b"/caf\xe9")   # not UTF-8: Go's JSON says U+FFFD
    assert paths.path_stat(odd, st, odd)["name"] == "caf\ufffd"


def test_the_stat_header_is_gos_json_in_base64():
    record = {"name": "a&<b>", "size": 1, "mode": 420, "mtime": "2017-07-14T02:40:00Z", "linkTarget": "é"}
    raw = base64.b64decode(stat_header(record))
    assert raw == ('{"name":"a\\u0026\\u003cb\\u003e","size":1,"mode":420,'
                   '"mtime":"2017-07-14T02:40:00Z","linkTarget":"é"}').encode()
    assert json.loads(raw) == record


VOLUMES = [("/vol1", True), ("/ro", False), ("/ro/inner", True), ("/data/", False)]


@pytest.mark.parametrize("path, readonly_rootfs, reason", [
    ("/vol1", False, None), ("/vol1/x", True, None), ("/vol10", True, "container rootfs is marked read-only"),
    ("/ro", False, "mounted volume is marked read-only"), ("/ro/inner/x", False, None),
    ("/ro/innerx", False, "mounted volume is marked read-only"), ("/data/.", False, "mounted volume is marked read-only"),
    ("/tmp", False, None), ("/tmp/", True, "container rootfs is marked read-only"),
])
def test_read_only_refusals_are_dockers(path, readonly_rootfs, reason):
    assert paths.read_only_reason(path, VOLUMES, readonly_rootfs) == reason


PASSWD = [["root", "x", "0", "0", "root", "/root", "/bin/sh"], ["www-data", "x", "33", "33", "", "/var/www", ""],
          ["broken", "x", "nope", "1"]]
GROUP = [["root", "x", "0", ""], ["staff", "x", "50", "www-data"]]


@pytest.mark.parametrize("user, owner", [
    ("", None), ("www-data", (33, 33)), ("33", (33, 33)), ("12345", (12345, 0)), ("www-data:staff", (33, 50)),
    ("www-data:7", (33, 7)), (":33", (0, 33)), ("33:", (33, 33)), ("12345:staff", (12345, 50)),
])
def test_copy_uid_gid_owner_is_mobys_get_uid_gid(user, owner):
    assert paths.copy_owner(user, PASSWD, GROUP) == owner


def test_copy_uid_gid_refuses_names_the_container_does_not_know():
    with pytest.raises(LookupError, match='failed to look up user "nobody" in container: no matching entries in passwd file'):
        paths.copy_owner("nobody", PASSWD, GROUP)
    with pytest.raises(LookupError, match='failed to look up group "wheel" in container: no matching entries in group file'):
        paths.copy_owner("root:wheel", PASSWD, GROUP)
    with pytest.raises(LookupError):   # a row that is not well formed is no match
        paths.copy_owner("broken", PASSWD, GROUP)


def test_mountinfo_lines_give_their_mount_points_and_types():
    text = ("22 1 0:21 / / rw,relatime - overlay overlay rw,lowerdir=/a\n"
            "23 22 0:22 / /proc rw,nosuid shared:5 - proc proc rw\n"
            "24 22 0:23 / /my\\040dir\\134x rw master:1 unbindable - tmpfs tmpfs rw\n"
            "garbage\n")
    assert view.mounts(text) == [("/", "overlay"), ("/proc", "proc"), ("/my dir\\x", "tmpfs")]


def test_a_sealed_helper_imports_nothing_from_files():
    code = ("import sys\n"
            "from services.shim.archive import view\n"
            "assert 'xml.dom.minidom' not in sys.modules\n"
            "view.seal()\n"
            "import _string, json\n"   # built in, and imported already: still there
            "try:\n"
            "    import xml.dom.minidom\n"
            "except ImportError:\n"
            "    print('refused')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"refused\n"
