"""The devices a container may open: Docker's default rules (mknod of any device, an open of
none but the standard character devices), Devices, DeviceCgroupRules and Privileged; on the
v1 devices controller through the daemon, and the cgroup v2 BPF program on the real kernel."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest

from services.kernel import devices
from tests.polling import until

from .containers import create, ensure_busybox, remove, start, wait

EPERM = "Operation not permitted"


def host_block_device() -> tuple[int, int]:
    """A real block device of the host that the host's root can open (the one holding /
    first; a sandbox may keep even root from its own disk, as this test's host does)."""
    st = os.stat("/")
    here = f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"
    listed = sorted(sorted(os.listdir("/sys/dev/block")), key=lambda name: name != here)
    for name in listed:
        with open(f"/sys/dev/block/{name}/uevent") as fh:
            node = dict(line.strip().split("=", 1) for line in fh if "=" in line).get("DEVNAME")
        try:
            os.close(os.open(f"/dev/{node}", os.O_RDONLY | os.O_CLOEXEC))
        except (OSError, TypeError):
            continue
        major, minor = name.split(":")
        return int(major), int(minor)
    raise AssertionError("the host has no block device its root can open")


def host_char_device() -> str:
    """A character device of the host that no default rule allows, harmless to open."""
    return next(p for p in ("/dev/fuse", "/dev/loop-control", "/dev/kvm", "/dev/kmsg") if os.path.exists(p))


BLOCK = host_block_device()

# Each check opens and reads or writes nothing (dd count=0), so a disk is never touched
# even where a rule would let it be; it prints NAME=ok or NAME=<the error>.
PROBE = ('probe() { if out=$(dd "$2" "$3" count=0 conv=notrunc 2>&1); then echo "$1=ok"; '
         'else echo "$1=$(echo "$out" | tr "\\n" " ")"; fi; }; '
         'r() { probe "$1" "if=$2" of=/dev/null; }; w() { probe "$1" if=/dev/zero "of=$2"; }; ')


def probe(daemon, script: str, **host) -> dict[str, str]:
    """Run `script` (with the probe functions) in a busybox container; what it printed."""
    ensure_busybox(daemon)
    cid = create(daemon, "/v1.45", Cmd=["sh", "-c", PROBE + script], HostConfig=host)
    try:
        start(daemon, cid)
        code = wait(daemon, cid)
        out = daemon.request("POST", f"/containers/{cid}/attach?logs=1&stdout=1&stderr=1").body.decode()
        assert code == 0, out
    finally:
        remove(daemon, cid)
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def test_default_container_can_make_device_nodes_but_not_open_them(daemon):
    major, minor = BLOCK
    got = probe(daemon, f"mknod /tmp/d b {major} {minor} && echo mknod=ok; r blk-r /tmp/d; w blk-w /tmp/d; "
                        "mknod /tmp/kvm c 10 232 && r kvm /tmp/kvm; mknod /tmp/fuse c 10 229 && r fuse /tmp/fuse; "
                        "mknod /tmp/mem c 1 1 && r mem /tmp/mem; "
                        "[ -e /dev/kvm ] && r devkvm /dev/kvm; [ -e /dev/fuse ] && r devfuse /dev/fuse; true")
    assert got["mknod"] == "ok"
    for name in ("blk-r", "blk-w", "kvm", "fuse", "mem"):
        assert EPERM in got[name], (name, got)
    assert "devkvm" not in got and "devfuse" not in got  # not in a default /dev at all


def test_default_container_keeps_the_standard_devices(daemon):
    got = probe(daemon, "for d in null zero full random urandom; do r $d-r /dev/$d; w $d-w /dev/$d; done; "
                        "r ptmx /dev/ptmx; r tty /dev/tty; echo urandom-bytes=$(head -c 4 /dev/urandom | wc -c); "
                        "echo zero-bytes=$(head -c 3 /dev/zero | wc -c)")
    for name in ("null", "zero", "full", "random", "urandom"):
        assert got[f"{name}-r"] == "ok" and got[f"{name}-w"] == "ok", got
    assert got["ptmx"] == "ok", got
    assert EPERM not in got["tty"], got  # no controlling terminal (ENXIO), but not refused
    assert got["urandom-bytes"].strip() == "4" and got["zero-bytes"].strip() == "3"


def test_privileged_container_opens_devices(daemon):
    major, minor = BLOCK
    char = host_char_device()
    got = probe(daemon, f"mknod /tmp/d b {major} {minor}; r blk-r /tmp/d; "
                        f"[ -c {char} ] && echo hostdev=ok; r char {char}", Privileged=True)
    assert got["blk-r"] == "ok" and got["char"] == "ok" and got["hostdev"] == "ok", got


def test_device_cgroup_rules_add_to_the_defaults(daemon):
    major, minor = BLOCK
    got = probe(daemon, f"mknod /tmp/d b {major} {minor}; r blk-r /tmp/d; w blk-w /tmp/d; "
                        "mknod /tmp/kvm c 10 232 && r kvm /tmp/kvm; r null /dev/null",
                DeviceCgroupRules=[f"b {major}:* r"])
    assert got["blk-r"] == "ok", got
    assert EPERM in got["blk-w"] and EPERM in got["kvm"], got
    assert got["null"] == "ok"


def test_devices_maps_a_host_device_with_its_permissions(daemon):
    char = host_char_device()
    st = os.stat(char)
    got = probe(daemon, "[ -c /dev/xdev ] && echo node=$(stat -c %t:%T /dev/xdev); r xdev-r /dev/xdev; "
                        "w xdev-w /dev/xdev",
                Devices=[{"PathOnHost": char, "PathInContainer": "/dev/xdev", "CgroupPermissions": "r"}])
    assert got["node"] == f"{os.major(st.st_rdev):x}:{os.minor(st.st_rdev):x}", got
    assert got["xdev-r"] == "ok" and EPERM in got["xdev-w"], got


def test_running_container_cgroup_holds_the_default_rules(daemon):
    ensure_busybox(daemon)
    cid = create(daemon, "/v1.45", Cmd=["sleep", "60"])
    try:
        start(daemon, cid)
        path = os.path.join("/sys/fs/cgroup/devices", daemon.cgroup_parent, cid, "devices.list")
        rules = until(lambda: open(path).read().split("\n"), what="the container's devices cgroup")
        assert "a *:* rwm" not in rules
        for rule in ("c *:* m", "b *:* m", "c 1:3 rwm", "c 1:9 rwm", "c 136:* rwm", "c 5:2 rwm"):
            assert rule in rules, rules
    finally:
        remove(daemon, cid)
    privileged = create(daemon, "/v1.45", Cmd=["sleep", "60"], HostConfig={"Privileged": True})
    try:
        start(daemon, privileged)
        path = os.path.join("/sys/fs/cgroup/devices", daemon.cgroup_parent, privileged, "devices.list")
        assert until(lambda: open(path).read().split("\n"), what="its devices cgroup")[0] == "a *:* rwm"
    finally:
        remove(daemon, privileged)


@pytest.mark.parametrize("host, message", [
    ({"Devices": "/dev/null"}, "HostConfig.Devices"),
    ({"Devices": [{"PathOnHost": "/dev/no-such-device", "PathInContainer": "/dev/x"}]},
     'error gathering device information while adding custom device "/dev/no-such-device"'),
    ({"Devices": [{"PathOnHost": "/etc/hostname", "PathInContainer": "/dev/x"}]}, "not a device node"),
    ({"Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/x", "CgroupPermissions": "rwx"}]},
     "bad mode specified: rwx"),
    ({"Devices": [{"PathOnHost": "/dev/null", "PathInContainer": 5}]}, "PathInContainer must be a string"),
    ({"DeviceCgroupRules": ["c 1:3 rwx"]}, "invalid device cgroup rule format: 'c 1:3 rwx'"),
    ({"DeviceCgroupRules": ["b 8 r"]}, "invalid device cgroup rule format"),
    ({"DeviceCgroupRules": "c 1:3 rwm"}, "HostConfig.DeviceCgroupRules"),
    ({"DeviceCgroupRules": [{"rule": "a"}]}, "HostConfig.DeviceCgroupRules"),
])
def test_bad_device_settings_are_400(daemon, host, message):
    ensure_busybox(daemon)
    r = daemon.request("POST", "/v1.45/containers/create",
                       body=json.dumps({"Image": "busybox", "Cmd": ["true"], "HostConfig": host}).encode(),
                       headers={"Content-Type": "application/json"})
    assert r.status == 400 and message in r.json()["message"], (r.status, r.body)


def test_docker_cli_run_device_escape_is_refused(daemon, tmp_path):
    """What a user meets: docker run, with and without --privileged and --device-cgroup-rule."""
    ensure_busybox(daemon)
    env = dict(os.environ, DOCKER_HOST=daemon.unix_url, DOCKER_CONFIG=str(tmp_path))
    major, minor = BLOCK
    script = f"mknod /tmp/d b {major} {minor} && dd if=/tmp/d of=/dev/null count=0"

    def run(*flags):
        return subprocess.run(["docker", "run", "--rm", *flags, "busybox", "sh", "-c", script],
                              capture_output=True, timeout=60, env=env)
    out = run()
    assert out.returncode != 0 and EPERM.encode() in out.stderr, out
    out = run("--privileged")
    assert out.returncode == 0, out
    out = run("--device-cgroup-rule", f"b {major}:{minor} r")
    assert out.returncode == 0, out


# The cgroup v2 program, on the real kernel: a cgroup of the v2 hierarchy (all of it, or the
# hybrid one at /sys/fs/cgroup/unified), the program attached, a child in it trying opens.

CHILD = r"""
import json, os, sys
cgroup, block = sys.argv[1], sys.argv[2]
with open(os.path.join(cgroup, "cgroup.procs"), "w") as fh:
    fh.write(str(os.getpid()))
out = {}
def attempt(name, path, flags):
    try:
        os.close(os.open(path, flags))
        out[name] = "ok"
    except OSError as exc:
        out[name] = exc.errno
major, minor = map(int, sys.argv[3].split(":"))
try:
    os.mknod(block, 0o600 | 0o060000, os.makedev(major, minor))
    out["mknod"] = "ok"
except OSError as exc:
    out["mknod"] = exc.errno
attempt("null", "/dev/null", os.O_RDWR)
attempt("urandom", "/dev/urandom", os.O_RDONLY)
attempt("block-r", block, os.O_RDONLY)
attempt("block-w", block, os.O_WRONLY)
for path in ("/dev/kvm", "/dev/fuse"):
    if os.path.exists(path):
        attempt(path, path, os.O_RDONLY)
print(json.dumps(out))
"""


def v2_root() -> str:
    for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        if os.path.exists(os.path.join(root, "cgroup.controllers")):
            return root
    raise AssertionError("no cgroup v2 hierarchy is mounted")


def in_v2_cgroup(rules, tmp_path) -> dict:
    cgroup = os.path.join(v2_root(), f"dockyard-devtest-{os.getpid()}")
    os.mkdir(cgroup)
    try:
        devices.apply_v2(cgroup, rules)
        block = str(tmp_path / "block")
        out = subprocess.run([sys.executable, "-c", CHILD, cgroup, block, "%d:%d" % BLOCK],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)
    finally:
        until(lambda: os.rmdir(cgroup) or True, what=f"removing {cgroup}")


def test_v2_program_of_the_default_rules_refuses_devices(tmp_path):
    got = in_v2_cgroup(list(devices.DEFAULT_RULES), tmp_path)
    assert got["mknod"] == "ok" and got["null"] == "ok" and got["urandom"] == "ok", got
    assert got["block-r"] == errno.EPERM and got["block-w"] == errno.EPERM, got
    assert {"/dev/kvm", "/dev/fuse"} & set(got), "the host has neither /dev/kvm nor /dev/fuse"
    for path in ("/dev/kvm", "/dev/fuse"):
        assert got.get(path, errno.EPERM) == errno.EPERM, got


def test_v2_program_of_privileged_and_added_rules(tmp_path):
    got = in_v2_cgroup(list(devices.ALLOW_ALL), tmp_path)
    assert got["block-r"] == "ok" and got["block-w"] == "ok", got
    for path in ("/dev/kvm", "/dev/fuse"):
        assert got.get(path, "ok") == "ok", got
    (tmp_path / "block").unlink()
    got = in_v2_cgroup(list(devices.DEFAULT_RULES) + [devices.parse("b %d:* r" % BLOCK[0])], tmp_path)
    assert got["block-r"] == "ok" and got["block-w"] == errno.EPERM and got["null"] == "ok", got
