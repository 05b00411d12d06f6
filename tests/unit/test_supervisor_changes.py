"""A container's changes from its upper dir and its image's layers, as `docker diff` shows
them: Docker's walk order and its rules for directories, and nothing of the mount points
Docker keeps in its init layer."""

from __future__ import annotations

import os

from services.supervisor.changes import ADDED, MODIFIED, changes


def tree(root, entries: dict) -> str:
    """Make `entries` (path -> None for a directory, bytes for a file) under `root`."""
    os.makedirs(root, exist_ok=True)
    for path, data in entries.items():
        full = os.path.join(root, path)
        if data is None:
            os.makedirs(full, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "wb") as fh:
                fh.write(data)
    return str(root)


def same_times(upper, lower, *paths) -> None:
    """Give the upper dir's copies the lower's times, as an overlay copy-up does."""
    for path in paths:
        st = os.stat(os.path.join(lower, path))
        os.utime(os.path.join(upper, path), ns=(st.st_atime_ns, st.st_mtime_ns))


def diff(upper, lower) -> list[tuple[str, int]]:
    return [(c["path"], c["kind"]) for c in changes(upper, [lower])]


def test_a_new_file_at_the_root_is_all_there_is(tmp_path):
    lower = tree(tmp_path / "lower", {"bin/sh": b"x", "etc/passwd": b"root", "tmp": None})
    upper = tree(tmp_path / "upper", {"test": b""})
    assert diff(upper, lower) == [("/test", ADDED)]


def test_the_runtimes_mount_points_are_left_out(tmp_path):
    # The image lacks /etc/hosts, /etc/hostname, /etc/resolv.conf, /proc, /sys and /dev:
    # the runtime made them in the upper dir, and /etc's time changed with it.
    lower = tree(tmp_path / "lower", {"etc/passwd": b"root", "bin/sh": b"x"})
    upper = tree(tmp_path / "upper", {"etc/hosts": b"", "etc/hostname": b"", "etc/resolv.conf": b"",
                                      "proc": None, "sys": None, "dev/pts": None, "dev/shm": None,
                                      "dev/mqueue": None, "foo/bar": b"xyzzy\n"})
    os.chmod(os.path.join(upper, "etc"), os.stat(os.path.join(lower, "etc")).st_mode & 0o7777)
    assert diff(upper, lower) == [("/foo", ADDED), ("/foo/bar", ADDED)]


def test_an_image_without_etc_gets_none_in_its_diff(tmp_path):
    lower = tree(tmp_path / "lower", {"bin/sh": b"x"})
    upper = tree(tmp_path / "upper", {"etc/hosts": b"", "etc/hostname": b"", "etc/resolv.conf": b""})
    os.chmod(os.path.join(upper, "etc"), 0o755)
    assert diff(upper, lower) == []


def test_a_change_in_an_init_directory_names_it(tmp_path):
    lower = tree(tmp_path / "lower", {"etc/passwd": b"root"})
    upper = tree(tmp_path / "upper", {"etc/hosts": b"", "etc/motd": b"hi"})
    os.chmod(os.path.join(upper, "etc"), os.stat(os.path.join(lower, "etc")).st_mode & 0o7777)
    assert diff(upper, lower) == [("/etc", MODIFIED), ("/etc/motd", ADDED)]
    # A mount point's file the container wrote in (not the runtime's empty one) is a change.
    with open(os.path.join(upper, "etc/hosts"), "wb") as fh:
        fh.write(b"127.0.0.1 x\n")
    assert ("/etc/hosts", ADDED) in diff(upper, lower)


def test_a_copied_up_parent_is_named_only_by_what_it_holds(tmp_path):
    lower = tree(tmp_path / "lower", {"usr/lib/a": b"a", "usr/lib/b": b"b"})
    upper = tree(tmp_path / "upper", {"usr/lib/a": b"changed"})
    same_times(upper, lower, "usr", "usr/lib")
    for path in ("usr", "usr/lib"):
        os.chmod(os.path.join(upper, path), os.stat(os.path.join(lower, path)).st_mode & 0o7777)
    assert diff(upper, lower) == [("/usr/lib/a", MODIFIED)]
    # An addition names its directory (once), whatever that one's times.
    tree(upper, {"usr/lib/c": b"c", "usr/lib/d": b"d"})
    same_times(upper, lower, "usr/lib")
    assert diff(upper, lower) == [("/usr/lib/a", MODIFIED), ("/usr/lib", MODIFIED), ("/usr/lib/c", ADDED),
                                  ("/usr/lib/d", ADDED)]


def test_a_directory_whose_mode_or_time_changed_is_modified(tmp_path):
    lower = tree(tmp_path / "lower", {"data": None, "srv": None})
    upper = tree(tmp_path / "upper", {"data": None, "srv": None})
    same_times(upper, lower, "srv")
    os.chmod(os.path.join(upper, "data"), 0o700)
    os.chmod(os.path.join(upper, "srv"), os.stat(os.path.join(lower, "srv")).st_mode & 0o7777)
    os.utime(os.path.join(upper, "srv"), ns=(0, os.stat(os.path.join(lower, "srv")).st_mtime_ns + 5 * 10**9))
    assert diff(upper, lower) == [("/data", MODIFIED), ("/srv", MODIFIED)]


def test_walk_order_is_depth_first_by_name(tmp_path):
    lower = tree(tmp_path / "lower", {"bin/sh": b"x"})
    upper = tree(tmp_path / "upper", {"b/y": b"", "a/z/1": b"", "a/x": b"", "B": b""})
    assert diff(upper, lower) == [("/B", ADDED), ("/a", ADDED), ("/a/x", ADDED), ("/a/z", ADDED),
                                  ("/a/z/1", ADDED), ("/b", ADDED), ("/b/y", ADDED)]

