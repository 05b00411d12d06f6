"""The tar side of docker cp: safetar.write_path (one path written rebased to a name, its
walk the same as write_tree's) and the extraction rules of an archive copied into a
container (ARCHIVE: noOverwriteDirNonDir, copyUIDGID's owner, plain `.wh.` names, the
destination's own attributes untouched), on a temporary directory."""

from __future__ import annotations

import dataclasses
import io
import os
import stat
import tarfile
from types import SimpleNamespace

import pytest

from services.common import errors, safetar, untar
from services.shim.archive import ops


def _names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return [m.name for m in tf.getmembers()]


def _members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return {m.name: m for m in tf.getmembers()}


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "f").write_bytes(b"file")
    (tmp_path / "d" / "sub" / "g").write_bytes(b"deeper")
    os.link(tmp_path / "d" / "f", tmp_path / "d" / "sub" / "hard")
    os.symlink("../f", tmp_path / "d" / "sub" / "up")
    return tmp_path


def _write(dir_path, name: str, archive_name: str) -> bytes:
    out = io.BytesIO()
    fd = os.open(dir_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        safetar.write_path(fd, name, out, archive_name)
    finally:
        os.close(fd)
    return out.getvalue()


def test_a_directory_is_written_rebased_with_everything_below_it(tree):
    data = _write(tree, "d", "copy")
    assert _names(data) == ["copy", "copy/f", "copy/sub", "copy/sub/g", "copy/sub/hard", "copy/sub/up"]
    members = _members(data)
    assert members["copy"].isdir() and members["copy/sub/up"].issym() and members["copy/sub/up"].linkname == "../f"
    assert members["copy/sub/hard"].islnk() and members["copy/sub/hard"].linkname == "copy/f"


def test_a_directorys_contents_are_written_as_dot_entries(tree):
    fd = os.open(tree / "d", os.O_RDONLY | os.O_DIRECTORY)
    out = io.BytesIO()
    try:
        safetar.write_path(fd, ".", out, ".")
    finally:
        os.close(fd)
    assert _names(out.getvalue()) == [".", "./f", "./sub", "./sub/g", "./sub/hard", "./sub/up"]


def test_the_root_is_written_as_slash_names_as_docker_does(tree):
    fd = os.open(tree / "d" / "sub", os.O_RDONLY | os.O_DIRECTORY)
    out = io.BytesIO()
    try:
        safetar.write_path(fd, ".", out, "")
    finally:
        os.close(fd)
    data = out.getvalue()
    assert data[:2] == b"/\0"   # the first header's name (tarfile reads a directory's without its "/")
    assert _names(data) == ["", "/g", "/hard", "/up"]


def test_a_file_and_a_symlink_are_one_entry_never_followed(tree):
    members = _members(_write(tree / "d", "f", "renamed"))
    assert list(members) == ["renamed"] and members["renamed"].size == 4
    members = _members(_write(tree / "d" / "sub", "up", "up"))
    assert list(members) == ["up"] and members["up"].issym()


def test_write_tree_is_the_same_walk(tree):
    out = io.BytesIO()
    safetar.write_tree(str(tree / "d"), out)
    assert _names(out.getvalue()) == ["f", "sub", "sub/g", "sub/hard", "sub/up"]


def test_an_overlay_whiteout_is_written_as_a_wh_entry_in_its_directory(tree):
    # An overlayfs whiteout is a 0/0 character device (made by root alone): its lstat is
    # handed in as such, and nothing is opened for it.
    whiteout = SimpleNamespace(st_mode=stat.S_IFCHR, st_rdev=0, st_mtime=7.0)
    out = io.BytesIO()
    writer = safetar._TreeWriter(out, True)
    writer.add(-1, "anything", "d/sub/gone", whiteout)
    writer.add(-1, "anything", "top", whiteout)
    writer.close()
    assert _names(out.getvalue()) == ["d/sub/.wh.gone", ".wh.top"]


def test_a_fifo_swapped_in_for_a_listed_file_is_skipped_not_waited_on(tree):
    listed = os.lstat(tree / "d" / "f")
    os.unlink(tree / "d" / "f")
    os.mkfifo(tree / "d" / "f")   # opening it for reading would block without O_NONBLOCK
    writer = safetar._TreeWriter(io.BytesIO(), False)
    fd = os.open(tree / "d", os.O_RDONLY | os.O_DIRECTORY)
    try:
        writer.add(fd, "f", "f", listed)
        writer.add(fd, "gone", "gone", listed)   # removed since listed: skipped too
    finally:
        os.close(fd)
    assert writer.links == {}


def _tar(*entries) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o700
                tf.addfile(info)
            else:
                info.size, info.uid, info.gid, info.mtime = len(data), 4321, 8765, -5
                tf.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


# The tar's owners (4321:8765) are kept, which only root may do: these tests run as anyone,
# so they give every entry to the user running them (copyUIDGID's owner) unless they say.
MINE = dataclasses.replace(ops.ARCHIVE, owner=(os.getuid(), os.getgid()))


def _refusing(**kw) -> untar.Rules:
    return dataclasses.replace(MINE, dir_non_dir="refuse", **kw)


def test_no_overwrite_dir_non_dir_refuses_in_dockers_words(tmp_path):
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_bytes(b"f")
    with pytest.raises(errors.BadParameter) as err:
        untar.extract(_tar(("dir", b"x")), str(tmp_path), _refusing())
    assert err.value.message == f'cannot overwrite directory "{tmp_path}/dir" with non-directory "{tmp_path}"'
    with pytest.raises(errors.BadParameter) as err:
        untar.extract(_tar(("file", None)), str(tmp_path), _refusing())
    assert err.value.message == f'cannot overwrite non-directory "{tmp_path}/file" with directory "{tmp_path}"'
    assert (tmp_path / "dir").is_dir() and (tmp_path / "file").read_bytes() == b"f"
    # A directory into a directory, or a file over a file, is no change of kind.
    untar.extract(_tar(("dir", None), ("file", b"new")), str(tmp_path), _refusing())
    assert (tmp_path / "file").read_bytes() == b"new"


def test_without_it_a_directory_is_replaced(tmp_path):
    (tmp_path / "dir" / "deep").mkdir(parents=True)
    untar.extract(_tar(("dir", b"now a file")), str(tmp_path), MINE)
    assert (tmp_path / "dir").read_bytes() == b"now a file"


def test_copy_uid_gid_owner_is_given_to_every_entry(tmp_path):
    me = (os.getuid(), os.getgid())   # the tar says 4321:8765, which only root could give
    untar.extract(_tar(("d", None), ("d/f", b"x")), str(tmp_path), MINE)
    for path in (tmp_path / "d", tmp_path / "d" / "f"):
        st = os.lstat(path)
        assert (st.st_uid, st.st_gid) == me


def test_an_owner_needs_owners_kept():
    with pytest.raises(ValueError):
        dataclasses.replace(ops.ARCHIVE, owners=False, owner=(1, 1))
    with pytest.raises(ValueError):
        dataclasses.replace(ops.ARCHIVE, dir_non_dir="sometimes")


def test_an_archive_keeps_whiteout_names_leaves_its_destination_and_bounds_times(tmp_path):
    os.chmod(tmp_path, 0o751)
    untar.extract(_tar((".", None), (".wh.gone", b"plain"), ("a/b/c", b"deep")), str(tmp_path), MINE)
    assert (tmp_path / ".wh.gone").read_bytes() == b"plain"
    assert stat.S_IMODE(os.stat(tmp_path).st_mode) == 0o751   # "." is the container's, not the tar's
    assert stat.S_IMODE(os.stat(tmp_path / "a").st_mode) == 0o755   # implied parents, whatever the umask
    assert os.stat(tmp_path / "a" / "b" / "c").st_mtime == 0   # a time before 1970 is 1970, as Docker's


@pytest.mark.parametrize("entries", [
    [("../out", b"x")], [("l", None), ("l/../../out", b"x")],
])
def test_an_archive_never_climbs_out(tmp_path, entries):
    (tmp_path / "dest").mkdir()
    with pytest.raises(errors.BadParameter, match="archive entry"):
        untar.extract(_tar(*entries), str(tmp_path / "dest"), MINE)
    assert sorted(os.listdir(tmp_path)) == ["dest"]


def test_a_compressed_or_empty_body_is_taken(tmp_path):
    import gzip
    ops.extract_archive(io.BytesIO(gzip.compress(_tar(("z", b"zipped")).getvalue())), str(tmp_path), False,
                        (os.getuid(), os.getgid()))
    assert (tmp_path / "z").read_bytes() == b"zipped"
    ops.extract_archive(io.BytesIO(b""), str(tmp_path), False, None)   # Docker takes it as empty
    with pytest.raises(errors.BadParameter, match="corrupt"):
        ops.extract_archive(io.BytesIO(b"\x1f\x8b" + b"junk" * 100), str(tmp_path), False, None)
