"""Trees another process writes while Dockyard works in them (a volume shared with another
container, a running container that docker cp writes into): an entry swapped for a symlink
between the moment it is made or checked and the moment it is used leads nowhere. Each swap
is made at the worst moment by wrapping the step before; all on a temporary directory."""

from __future__ import annotations

import dataclasses
import errno
import io
import json
import os
import stat
import tarfile

import pytest

from services.common import errors, pathwalk, untar
from services.common.wire import schema
from services.kernel.fake import RecordingSyscalls
from services.kernel.syscalls import MS_BIND, MS_REC
from services.shim.archive import ops
from services.shim.runtime import StartError, copyup, rootfs, runc
from services.supervisor import bundle_mounts
from services.supervisor.spec import mount_specs


def _swap_for_symlink(path, target) -> None:
    """What the other container does: the entry moved aside, a symlink to `target` in its place."""
    os.rename(path, f"{path}.moved")
    os.symlink(target, path)


# ------------------------------------------------------- a volume filled from the image


@pytest.fixture
def image_and_volume(tmp_path):
    image = tmp_path / "rootfs"
    (image / "seed/deep").mkdir(parents=True)
    (image / "seed/deep/file").write_text("planted\n")
    os.chmod(image / "seed/deep/file", 0o644)
    os.chmod(image / "seed/deep", 0o751)
    volume = tmp_path / "volume"
    volume.mkdir()
    host = tmp_path / "host"   # stands for the host's /etc
    host.mkdir(mode=0o700)
    (host / "shadow").write_text("secret")
    os.chmod(host / "shadow", 0o600)
    config = {"mounts": [{"destination": "/seed", "type": "bind", "source": str(volume), "options": ["rbind"]}],
              "annotations": {schema.ANNOTATION_COPY_UP: json.dumps(["/seed"])}}
    return image, volume, host, config


def _fill(image, config) -> None:
    root_fd = os.open(image, os.O_RDONLY | os.O_DIRECTORY)
    try:
        copyup.fill(root_fd, config)
    finally:
        os.close(root_fd)


def test_a_copied_directory_swapped_for_a_symlink_does_not_lead_its_mode_out(image_and_volume, monkeypatch):
    image, volume, host, config = image_and_volume
    copy_tree = copyup._copy_tree

    def swapping(src, dst):
        copy_tree(src, dst)
        if (volume / "deep").is_dir() and not (volume / "deep").is_symlink() \
                and os.path.samestat(os.fstat(dst), os.stat(volume / "deep")):
            _swap_for_symlink(volume / "deep", host)   # its entries copied, its mode still to set

    monkeypatch.setattr(copyup, "_copy_tree", swapping)
    _fill(image, config)
    assert stat.S_IMODE(os.stat(host).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(volume / "deep.moved").st_mode) == 0o751   # set on what was made


def test_a_copied_file_swapped_for_a_symlink_does_not_lead_its_mode_out(image_and_volume, monkeypatch):
    image, volume, host, config = image_and_volume
    copy_file = copyup._copy_file

    def swapping(src, dst, name, *rest):
        copy_file(src, dst, name, *rest)
        _swap_for_symlink(volume / "deep" / name, host / "shadow")

    monkeypatch.setattr(copyup, "_copy_file", swapping)
    _fill(image, config)
    assert stat.S_IMODE(os.stat(host / "shadow").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(volume / "deep/file.moved").st_mode) == 0o644


# --------------------------------------------------------- nodes made by name (untar)


def _fifo_tar(name: str, mode: int, xattrs: dict | None = None) -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo(name)
        info.type, info.mode = tarfile.FIFOTYPE, mode
        info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in (xattrs or {}).items()}
        tf.addfile(info)
    out.seek(0)
    return out


# docker cp's rules, owned by whoever runs the test (a non-root one can give nothing else).
MINE = dataclasses.replace(ops.ARCHIVE, owner=(os.getuid(), os.getgid()))


def test_a_node_swapped_for_a_symlink_as_it_is_made_does_not_lead_its_mode_out(tmp_path, monkeypatch):
    into = tmp_path / "container"
    into.mkdir()
    victim = tmp_path / "shadow"
    victim.write_text("secret")
    os.chmod(victim, 0o600)
    mknod = os.mknod

    def swapping(name, *args, dir_fd=None, **kw):
        mknod(name, *args, dir_fd=dir_fd, **kw)
        os.rename(name, f"{name}.moved", src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        os.symlink(str(victim), name, dir_fd=dir_fd)   # a container's process, at once

    monkeypatch.setattr(os, "mknod", swapping)
    with pytest.raises(errors.Conflict, match="changed"):
        ops.extract_archive(_fifo_tar("pipe", 0o666), str(into), False, (os.getuid(), os.getgid()))
    assert stat.S_IMODE(os.stat(victim).st_mode) == 0o600
    assert os.readlink(into / "pipe") == str(victim)   # left as the container made it


def test_a_node_gets_its_mode_whatever_the_umask_and_set_id_bits_after_its_owner(tmp_path):
    old = os.umask(0o077)
    try:
        untar.extract(_fifo_tar("pipe", 0o4666, {"user.note": "x"}), str(tmp_path), MINE)
    finally:
        os.umask(old)
    st = os.lstat(tmp_path / "pipe")
    assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o4666
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())


def test_make_node_leaves_no_mode_on_what_replaced_the_node(tmp_path, monkeypatch):
    (tmp_path / "target").write_text("")
    os.chmod(tmp_path / "target", 0o600)
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    mknod = os.mknod

    def swapping(name, *args, dir_fd=None, **kw):
        mknod(name, *args, dir_fd=dir_fd, **kw)
        os.unlink(name, dir_fd=dir_fd)
        os.symlink("target", name, dir_fd=dir_fd)

    monkeypatch.setattr(os, "mknod", swapping)
    old = os.umask(0o022)
    try:
        with pytest.raises(FileNotFoundError):
            pathwalk.make_node("node", stat.S_IFIFO | 0o666, 0, fd)
    finally:
        os.umask(old)
        os.close(fd)
    assert stat.S_IMODE(os.stat(tmp_path / "target").st_mode) == 0o600


# ------------------------------------------------------------------ a volume's Subpath


@pytest.fixture
def subpath_volume(tmp_path):
    """A volume with `sub/dir` in it, and the OCI mount the supervisor makes of its Subpath."""
    volume = tmp_path / "volume"
    (volume / "sub/dir").mkdir(parents=True)
    (volume / "sub/file").write_text("f")
    host = tmp_path / "host"   # stands for the host's /
    host.mkdir()
    point = mount_specs.point({"Type": "volume", "Source": "v", "Target": "/mnt", "VolumeOptions": {"Subpath": "sub/dir"}})
    point["Source"] = str(volume)
    return volume, host, bundle_mounts.point_mount(point)   # checked now: all real directories


def test_open_beneath_follows_no_symlink_and_names_where_it_stopped(subpath_volume):
    volume, host, _ = subpath_volume
    fd = pathwalk.open_beneath(str(volume), "sub/file")
    try:
        assert stat.S_ISREG(os.fstat(fd).st_mode)
    finally:
        os.close(fd)
    with pytest.raises(FileNotFoundError) as missing:
        pathwalk.open_beneath(str(volume), "sub/missing/x")
    assert missing.value.filename == str(volume / "sub/missing")
    os.symlink(host, volume / "link")
    for sub in ("link", "link/x"):
        with pytest.raises(OSError) as loop:
            pathwalk.open_beneath(str(volume), sub)
        assert loop.value.errno == errno.ELOOP and loop.value.filename == str(volume / "link")


def _rootfs(tmp_path):
    (tmp_path / "rootfs").mkdir()
    return os.open(tmp_path / "rootfs", os.O_RDONLY | os.O_DIRECTORY)


def test_the_builtin_runtime_binds_the_subpath_it_walked(tmp_path, subpath_volume, monkeypatch):
    volume, host, m = subpath_volume
    monkeypatch.chdir(tmp_path)
    kernel = RecordingSyscalls()
    root_fd = _rootfs(tmp_path)
    try:
        rootfs.mount(root_fd, m, kernel)
        assert kernel.calls[0].args[:2] == (str(volume / "sub/dir"), str(tmp_path / "rootfs/mnt"))
        # Since the supervisor checked it, a container sharing the volume swapped a part of it.
        _swap_for_symlink(volume / "sub", host)
        kernel.calls.clear()
        with pytest.raises(StartError, match="goes through a symlink"):
            rootfs.mount(root_fd, m, kernel)
    finally:
        os.close(root_fd)
    assert kernel.calls == []


def test_runc_gets_a_private_bind_of_the_subpath_the_shim_walked(tmp_path, subpath_volume):
    volume, host, m = subpath_volume
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    kernel = RecordingSyscalls()
    spec = {"mounts": [dict(m)]}
    runc.bind_subpaths(spec, str(bundle), kernel)
    point = str(bundle / runc.SUBPATHS / "0")
    assert spec["mounts"] == [{"destination": "/mnt", "type": "bind", "source": point, "options": m["options"]}]
    assert [c.args[:4] for c in kernel.calls] == [(str(volume / "sub/dir"), point, None, MS_BIND | MS_REC)]
    _swap_for_symlink(volume / "sub", host)
    kernel.calls.clear()
    with pytest.raises(StartError, match="goes through a symlink"):
        runc.bind_subpaths({"mounts": [dict(m)]}, str(bundle), kernel)
    assert kernel.calls == []
