"""The built-in runtime's side of HostConfig's settings, against the recording fake of the syscall
layer (no root): bind propagation and recursive read-only binds, another container's /dev/shm,
rlimits, GroupAdd, the terminal's first size, and volumes filled from the image (real file work
on a temporary tree)."""

from __future__ import annotations

import json
import os
import resource
import stat

import pytest

from services.common.wire import schema
from services.kernel.fake import Call, RecordingSyscalls
from services.kernel.syscalls import CLONE_NEWNS, MOUNT_ATTR_RDONLY, MS_BIND, MS_PRIVATE, MS_REC, MS_SHARED, MS_SLAVE
from services.shim.runtime import StartError, copyup, init, rootfs, terminal, user

OVERLAY = {"lower": "/l", "upper": "/u", "work": "/w"}


@pytest.fixture
def kernel(tmp_path, monkeypatch) -> RecordingSyscalls:
    monkeypatch.chdir(tmp_path)
    return RecordingSyscalls()


def bundle(tmp_path, mounts: list[dict], **linux) -> tuple[str, dict]:
    root = tmp_path / "bundle" / "rootfs"
    (root / "dev").mkdir(parents=True)
    config = {"process": {"args": ["sh"]}, "root": {"path": "rootfs"}, "mounts": mounts,
              "linux": {"namespaces": [{"type": "mount"}], **linux}, "annotations": {}}
    return str(root), config


def test_a_bind_with_propagation_and_recursive_read_only(tmp_path, kernel):
    source = tmp_path / "src"
    source.mkdir()
    root, config = bundle(tmp_path, [{"destination": "/data", "type": "bind", "source": str(source),
                                      "options": ["rbind", "rro", "rshared"]}], rootfsPropagation="shared")
    rootfs.enter(root, config, OVERLAY, kernel)
    calls = kernel.calls
    # The host's mounts still reach the container (slave), none of its own reach the host.
    assert calls[0] == Call("mount", (None, "/", None, MS_REC | MS_SLAVE, None))
    bind = calls.index(Call("mount", (str(source), f"{root}/data", None, MS_BIND | MS_REC, None)))
    setattr_call, propagation = calls[bind + 1], calls[bind + 2]
    assert setattr_call.name == "mount_setattr" and setattr_call.args[1:] == (MOUNT_ATTR_RDONLY, True)
    assert propagation.name == "mount" and propagation.args[0] is None and propagation.args[3] == MS_SHARED | MS_REC


def test_a_private_bind_needs_no_more_calls(tmp_path, kernel):
    source = tmp_path / "src"
    source.mkdir()
    root, config = bundle(tmp_path, [{"destination": "/data", "type": "bind", "source": str(source),
                                      "options": ["rbind", "rprivate"]}])
    rootfs.enter(root, config, OVERLAY, kernel)
    assert kernel.calls[0] == Call("mount", (None, "/", None, MS_REC | MS_PRIVATE, None))
    bind = kernel.calls.index(Call("mount", (str(source), f"{root}/data", None, MS_BIND | MS_REC, None)))
    assert kernel.calls[bind + 1].name == "make_node"   # straight on to /dev's nodes


def test_tmpfs_flags_and_data(tmp_path, kernel):
    root, config = bundle(tmp_path, [{"destination": "/t", "type": "tmpfs", "source": "tmpfs",
                                      "options": ["nosuid", "nodev", "rprivate", "rw", "exec", "noatime", "size=1m"]}])
    rootfs.enter(root, config, OVERLAY, kernel)
    flags = rootfs.MOUNT_FLAGS
    assert Call("mount", ("tmpfs", f"{root}/t", "tmpfs", flags["nosuid"] | flags["nodev"] | flags["noatime"],
                          "size=1m")) in kernel.calls


def test_another_containers_dev_shm_is_cloned_from_its_mount_namespace(tmp_path, kernel):
    tree = os.open(os.devnull, os.O_RDONLY)   # what open_tree would give: closed once attached
    kernel.results["open_tree"] = tree
    root, config = bundle(tmp_path, [{"destination": "/dev/shm", "type": "bind",
                                      "source": f"/proc/{os.getpid()}/root/dev/shm", "options": ["rbind", "rprivate"]}])
    config["annotations"][schema.ANNOTATION_SHM_OF] = str(os.getpid())
    rootfs.enter(root, config, OVERLAY, kernel)
    names = kernel.names()
    assert names[:3] == ["setns", "open_tree", "setns"]
    assert [c.args[1] for c in kernel.calls[:3:2]] == [CLONE_NEWNS, CLONE_NEWNS]
    assert kernel.calls[1].args == ("/dev/shm", True)
    attach = next(c for c in kernel.calls if c.name == "move_mount")
    assert attach.args[0] == tree and not [c for c in kernel.calls if c.name == "mount" and c.args[0] and
                                           c.args[0].startswith("/proc/")]
    with pytest.raises(OSError):
        os.fstat(tree)   # closed after the attach


def test_rlimits_as_setrlimit_takes_them(kernel):
    init.limit([{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20},
                {"type": "RLIMIT_CORE", "soft": (1 << 64) - 1, "hard": (1 << 64) - 1}], kernel)
    assert kernel.calls == [Call("setrlimit", (resource.RLIMIT_NOFILE, 10, 20)),
                            Call("setrlimit", (resource.RLIMIT_CORE, resource.RLIM_INFINITY, resource.RLIM_INFINITY))]
    for bad in ("RLIMIT_NOPE", "NOFILE"):
        with pytest.raises(StartError, match="unknown rlimit type"):
            init.limit([{"type": bad, "soft": 1, "hard": 1}], kernel)


def test_group_add_reads_the_containers_group_file(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:100:100::/home/app:/bin/sh\n")
    (tmp_path / "etc/group").write_text("root:x:0:\napp:x:100:\naudio:x:29:app\nstaff:x:50:\n")
    notes = {schema.ANNOTATION_USER: "app", schema.ANNOTATION_GROUP_ADD: json.dumps(["staff", "1234", "29", "100"])}
    uid, gid, groups, _ = user.resolve({}, notes, root=str(tmp_path))
    assert (uid, gid) == (100, 100) and groups == [29, 50, 1234, 100]
    notes[schema.ANNOTATION_GROUP_ADD] = json.dumps(["nosuchgroup"])
    with pytest.raises(StartError, match="Unable to find group nosuchgroup"):
        user.resolve({}, notes, root=str(tmp_path))


def test_the_terminals_first_size():
    assert terminal.size_of({"consoleSize": {"height": 30, "width": 100}}) == (30, 100)
    assert terminal.size_of({}) == terminal.DEFAULT_SIZE == terminal.size_of({"consoleSize": {"height": 0}})


def _volume_bundle(tmp_path, volume):
    rootfs_dir = tmp_path / "rootfs"
    (rootfs_dir / "seed/deep").mkdir(parents=True)
    (rootfs_dir / "seed/deep/file").write_text("planted\n")
    os.chmod(rootfs_dir / "seed/deep/file", 0o640)
    (rootfs_dir / "seed/link").symlink_to("/etc/passwd")
    os.mkfifo(rootfs_dir / "seed/fifo")
    os.chmod(rootfs_dir / "seed", 0o751)
    config = {"mounts": [{"destination": "/seed", "type": "bind", "source": str(volume), "options": ["rbind"]}],
              "annotations": {schema.ANNOTATION_COPY_UP: json.dumps(["/seed", "/absent"])}}
    return os.open(rootfs_dir, os.O_RDONLY | os.O_DIRECTORY), config


def test_an_empty_volume_gets_the_images_files(tmp_path):
    volume = tmp_path / "volume"
    volume.mkdir()
    root_fd, config = _volume_bundle(tmp_path, volume)
    try:
        copyup.fill(root_fd, config)
    finally:
        os.close(root_fd)
    assert (volume / "deep/file").read_text() == "planted\n"
    assert stat.S_IMODE(os.stat(volume / "deep/file").st_mode) == 0o640
    assert os.readlink(volume / "link") == "/etc/passwd"   # a symlink stays one, never followed
    assert stat.S_ISFIFO(os.lstat(volume / "fifo").st_mode)
    assert stat.S_IMODE(os.stat(volume).st_mode) == 0o751   # the volume takes the directory's mode


def test_a_volume_with_files_is_left_as_it_is(tmp_path):
    volume = tmp_path / "volume"
    volume.mkdir()
    (volume / "mine").write_text("kept")
    root_fd, config = _volume_bundle(tmp_path, volume)
    try:
        copyup.fill(root_fd, config)
    finally:
        os.close(root_fd)
    assert sorted(os.listdir(volume)) == ["mine"]


def test_a_symlink_in_the_image_at_the_volume_is_not_followed(tmp_path):
    volume = tmp_path / "volume"
    volume.mkdir()
    rootfs_dir = tmp_path / "rootfs"
    rootfs_dir.mkdir()
    (rootfs_dir / "seed").symlink_to(tmp_path / "secret")
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret/key").write_text("host's")
    config = {"mounts": [{"destination": "/seed", "type": "bind", "source": str(volume), "options": ["rbind"]}],
              "annotations": {schema.ANNOTATION_COPY_UP: json.dumps(["/seed"])}}
    root_fd = os.open(rootfs_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        copyup.fill(root_fd, config)
    finally:
        os.close(root_fd)
    assert os.listdir(volume) == []
