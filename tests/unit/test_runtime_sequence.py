"""The built-in runtime's namespace and mount sequence for a bundle, run against the recording
fake of the syscall layer: no root, no fork; the file work is real, on a temporary rootfs."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from services.kernel import capabilities
from services.kernel.fake import Call, RecordingSyscalls
from services.kernel.syscalls import (
    CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS, MNT_DETACH, MS_BIND, MS_NODEV,
    MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT, MS_STRICTATIME, Syscalls,
)
from services.shim.runtime import StartError, init, rootfs, spawn

MASKED = ["/proc/acpi", "/proc/kcore", "/proc/nothing-here", "/sys/firmware"]
READONLY = ["/proc/sys", "/proc/absent"]
OVERLAY = {"lower": "/layers/b:/layers/a", "upper": "/c/upper", "work": "/c/work"}


def bundle(tmp_path, readonly_root=True) -> tuple[str, dict]:
    """A bundle as the supervisor writes it (its mounts, devices, masked and read-only
    paths), and a rootfs that shows what the image and /proc, /sys would."""
    root = tmp_path / "bundle" / "rootfs"
    for d in ("proc/acpi", "proc/sys", "sys/firmware", "etc"):
        (root / d).mkdir(parents=True)
    (root / "proc/kcore").write_text("")
    files = tmp_path / "files"
    files.mkdir()
    (files / "hosts").write_text("127.0.0.1 localhost\n")
    (files / "volume").mkdir()
    config = {
        "process": {"args": ["sh"], "capabilities": {"bounding": ["CAP_CHOWN", "CAP_KILL"]},
                    "noNewPrivileges": True},
        "root": {"path": "rootfs", "readonly": readonly_root},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/etc/hosts", "type": "bind", "source": str(files / "hosts"),
             "options": ["rbind", "rprivate"]},
            {"destination": "/data", "type": "bind", "source": str(files / "volume"),
             "options": ["rbind", "rprivate", "ro"]},
        ],
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "mount", "ipc", "uts", "network")],
            "devices": [{"path": "/dev/xdev", "type": "c", "major": 10, "minor": 229, "fileMode": 0o640,
                         "uid": 0, "gid": 0}],
            "maskedPaths": MASKED, "readonlyPaths": READONLY,
        },
    }
    return str(root), config


@pytest.fixture
def kernel(tmp_path, monkeypatch) -> RecordingSyscalls:
    monkeypatch.chdir(tmp_path)   # the sequence changes directory, as the init does
    return RecordingSyscalls()


def index(calls: list[Call], name: str, *args) -> int:
    """Where the call `name` whose arguments begin with `args` is in the sequence."""
    found = [n for n, c in enumerate(calls) if c.name == name and c.args[:len(args)] == args]
    assert len(found) == 1, f"{name}{args}: {len(found)} such calls in {calls}"
    return found[0]


def test_the_mount_sequence_of_a_bundle(tmp_path, kernel):
    root, config = bundle(tmp_path)
    spawn.enter_namespaces(config, kernel)
    rootfs.enter(root, config, OVERLAY, kernel)
    calls = kernel.calls
    mounts = [n for n, c in enumerate(calls) if c.name == "mount"]

    # The init was born in its pid namespace (pid_namespace_for_children): it makes the others.
    assert calls[0] == Call("unshare", (CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET,))
    # The host's / made private before anything is mounted; then the overlay on the rootfs.
    assert calls[1] == Call("mount", (None, "/", None, MS_REC | MS_PRIVATE, None))
    assert calls[2] == Call("mount", ("overlay", root, "overlay", 0,
                                      "lowerdir=/layers/b:/layers/a,upperdir=/c/upper,workdir=/c/work"))
    # The bundle's mounts, in its order, onto their places inside the rootfs.
    proc = index(calls, "mount", "proc", f"{root}/proc", "proc", MS_NOSUID | MS_NOEXEC | MS_NODEV, None)
    dev = index(calls, "mount", "tmpfs", f"{root}/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k")
    sys_ = index(calls, "mount", "sysfs", f"{root}/sys", "sysfs", MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY)
    hosts = index(calls, "mount", str(tmp_path / "files/hosts"), f"{root}/etc/hosts", None, MS_BIND | MS_REC)
    volume = index(calls, "mount", str(tmp_path / "files/volume"), f"{root}/data", None, MS_BIND | MS_REC)
    volume_ro = index(calls, "mount", None, f"{root}/data", None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    assert 2 < proc < dev < sys_ < hosts < volume < volume_ro
    assert stat.S_ISREG(os.lstat(f"{root}/etc/hosts").st_mode)   # a file's mount point is a file
    assert os.path.isdir(f"{root}/data")
    # Device nodes go on the container's /dev once it is mounted, before the pivot.
    nodes = [n for n, c in enumerate(calls) if c.name == "make_node"]
    assert calls[nodes[0]] == Call("make_node", ("xdev", stat.S_IFCHR | 0o640, os.makedev(10, 229)))
    assert calls[nodes[0] + 1].name == "chown" and calls[nodes[0] + 1].args[:3] == ("xdev", 0, 0)
    assert [calls[n].args[0] for n in nodes[1:]] == ["null", "zero", "full", "random", "urandom", "tty"]
    assert os.readlink(f"{root}/dev/ptmx") == "pts/ptmx"
    pivot = index(calls, "pivot_root")
    assert dev < nodes[0] and nodes[-1] < pivot
    # pivot_root comes after every mount in the rootfs, and the old root goes at once.
    assert calls[pivot] == Call("pivot_root", (root, "."))
    assert calls[pivot + 1] == Call("umount2", (".", MNT_DETACH))
    assert all(calls[n].args[1].startswith(root) or n == 1 for n in mounts if n < pivot)
    # Then, inside the container: masked paths (a directory behind a read-only tmpfs, a
    # file behind /dev/null, what is not there left out), read-only paths bound read-only.
    after = [calls[n] for n in mounts if n > pivot]
    assert after == [
        Call("mount", ("tmpfs", "/proc/acpi", "tmpfs", MS_RDONLY, None)),
        Call("mount", ("/dev/null", "/proc/kcore", None, MS_BIND, None)),
        Call("mount", ("tmpfs", "/sys/firmware", "tmpfs", MS_RDONLY, None)),
        Call("mount", ("/proc/sys", "/proc/sys", None, MS_BIND | MS_REC, None)),
        Call("mount", (None, "/proc/sys", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                       None)),
        # A read-only rootfs is remounted so last of all.
        Call("mount", (None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)),
    ]
    assert calls[-1] == after[-1]


def test_a_writable_rootfs_is_not_remounted(tmp_path, kernel):
    root, config = bundle(tmp_path, readonly_root=False)
    rootfs.enter(root, config, OVERLAY, kernel)
    assert kernel.calls[-1].args[:2] == (None, "/proc/sys")
    assert not [c for c in kernel.calls if c.args[:2] == (None, "/") and c.args[3] & MS_REMOUNT]


def test_a_failed_pivot_stops_the_sequence(tmp_path, kernel):
    root, config = bundle(tmp_path)
    kernel.fail("pivot_root", OSError(errno.EINVAL, "pivot_root: Invalid argument"))
    with pytest.raises(OSError, match="pivot_root"):
        rootfs.enter(root, config, OVERLAY, kernel)
    assert kernel.calls[-1].name == "make_node"   # nothing was mounted inside the old root


def test_a_dev_null_that_is_not_the_null_device_stops_the_masking(tmp_path, kernel):
    root, config = bundle(tmp_path)
    config["mounts"].append({"destination": "/dev/null", "type": "bind",
                             "source": str(tmp_path / "files/hosts"), "options": ["rbind"]})
    with pytest.raises(StartError, match="not the null device"):
        rootfs.enter(root, config, OVERLAY, kernel)
    assert kernel.calls[-1] == Call("umount2", (".", MNT_DETACH))


def test_a_mount_point_that_is_a_symlink_in_the_image_is_refused(tmp_path, kernel):
    root, config = bundle(tmp_path)
    os.symlink("/etc", f"{root}/data")
    with pytest.raises(StartError, match="mount point /data is a symlink"):
        rootfs.enter(root, config, OVERLAY, kernel)
    assert "pivot_root" not in kernel.names()


def test_restrictions_go_capabilities_then_no_new_privs_then_seccomp(kernel):
    kernel.results["capget"] = (0xFF, 0xFF, 0x0F)
    init.restrict({"capabilities": {"bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NO_SUCH"]},
                   "noNewPrivileges": True}, b"\0" * 8, kernel)
    names = kernel.names()
    last = capabilities.last_capability()
    drops = [c.args[1] for c in kernel.calls if c.name == "prctl" and c.args[0] == capabilities.PR_CAPBSET_DROP]
    assert drops == [n for n in range(last + 1) if n not in (0, 5)]
    assert kernel.calls[names.index("capset")] == Call("capset", (0xFF, 0xFF, 0))   # inheritable emptied
    assert names.index("capset") < names.index("set_no_new_privs") < names.index("install_seccomp")


def test_the_fake_records_every_call_of_the_interface_and_makes_none():
    public = [name for name in dir(Syscalls) if not name.startswith("_")]
    assert {"mount", "umount2", "pivot_root", "unshare", "setns", "install_seccomp", "bpf"} <= set(public)
    for name in public:
        assert getattr(RecordingSyscalls, name) is not getattr(Syscalls, name), f"{name} would be made for real"
    fake = RecordingSyscalls()
    fake.setns(7)
    fake.set_parent_death_signal(9)
    fake.fail("unshare", when=lambda flags: flags == CLONE_NEWNET)
    fake.unshare(CLONE_NEWNS)
    with pytest.raises(PermissionError):
        fake.unshare(CLONE_NEWNET)
    fake.unshare(CLONE_NEWNET)   # a failure is used once
    assert fake.calls == [Call("setns", (7, 0)), Call("set_parent_death_signal", (9,)),
                          Call("unshare", (CLONE_NEWNS,)), Call("unshare", (CLONE_NEWNET,))]


def test_a_namespace_named_by_path_is_joined_and_a_missing_kind_stays_the_hosts(tmp_path, kernel):
    handle = tmp_path / "netns"
    handle.write_text("")
    joined = {"linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "network", "path": str(handle)}]}}
    spawn.enter_namespaces(joined, kernel)
    assert [c.name for c in kernel.calls] == ["setns", "unshare"]
    assert kernel.calls[0].args[1] == CLONE_NEWNET and kernel.calls[1] == Call("unshare", (CLONE_NEWNS,))
    assert not init.owns_network(joined)
    host = {"linux": {"namespaces": [{"type": "pid"}, {"type": "uts"}]}}   # --network host: no network entry
    assert spawn.namespace_flags(host) == CLONE_NEWPID | CLONE_NEWUTS and not init.owns_network(host)
    assert init.owns_network({"linux": {"namespaces": [{"type": "network"}]}})


def test_the_init_is_born_in_its_pid_namespace_and_the_shims_children_after_it_are_not(tmp_path, kernel):
    # A new one: the shim's next child is its pid 1; then the shim's own is given back.
    config = {"linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}]}}
    own = spawn.pid_namespace_for_children(config, kernel)
    assert kernel.calls == [Call("unshare", (CLONE_NEWPID,))]
    assert os.readlink(f"/proc/self/fd/{own}") == os.readlink("/proc/self/ns/pid")
    spawn.restore_pid_namespace(own, kernel)
    assert kernel.calls[1] == Call("setns", (own, CLONE_NEWPID))
    with pytest.raises(OSError):
        os.fstat(own)   # closed
    # Another container's, by path: joined for the next child, not made.
    handle = tmp_path / "pidns"
    handle.write_text("")
    kernel.calls.clear()
    own = spawn.pid_namespace_for_children({"linux": {"namespaces": [{"type": "pid", "path": str(handle)}]}}, kernel)
    assert [(c.name, c.args[1]) for c in kernel.calls] == [("setns", CLONE_NEWPID)]
    spawn.restore_pid_namespace(own, kernel)
    # None listed (--pid host): the host's, nothing to give back.
    kernel.calls.clear()
    assert spawn.pid_namespace_for_children({"linux": {"namespaces": [{"type": "mount"}]}}, kernel) is None
    spawn.restore_pid_namespace(None, kernel)
    assert kernel.calls == []


def test_a_pid_namespace_that_cannot_be_made_leaves_no_fd_behind(kernel):
    kernel.fail("unshare", when=lambda flags: flags == CLONE_NEWPID)
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(PermissionError):
        spawn.pid_namespace_for_children({"linux": {"namespaces": [{"type": "pid"}]}}, kernel)
    assert set(os.listdir("/proc/self/fd")) == before
