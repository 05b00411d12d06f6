"""services.kernel.cgroups on the real kernel: this host's hierarchy through `Cgroup(path)`, and
the v2 implementation on the unified hierarchy wherever it is mounted (all of /sys/fs/cgroup,
or /sys/fs/cgroup/unified beside v1 controllers): limits, members, freeze and thaw, stats,
removal."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from services.kernel.cgroups import ROOT, Cgroup, V1, V2, is_v2

# A member that, told "go", allocates and touches 8 MiB and answers; then echoes each line.
CHILD = """
import sys
assert sys.stdin.readline() == "go\\n"
ballast = bytearray(8 << 20)
for i in range(0, len(ballast), 4096):
    ballast[i] = 1
print("ready", flush=True)
for line in sys.stdin:
    print(line.strip(), flush=True)
"""


def v2_root() -> str:
    for root in (ROOT, os.path.join(ROOT, "unified")):
        if os.path.exists(os.path.join(root, "cgroup.controllers")):
            return root
    raise AssertionError("no cgroup v2 hierarchy is mounted")


@pytest.fixture(params=["host", "v2"])
def cgroup(request):
    parent = f"dockyard-kerneltest-{os.getpid()}"
    if request.param == "host":
        cg = Cgroup(f"{parent}/c")
        assert type(cg) is (V2 if os.path.exists(f"{ROOT}/cgroup.controllers") else V1)
        assert cg.version == (2 if is_v2() else 1)
    else:
        cg = V2(f"{parent}/c", root=v2_root())
    yield cg
    cg.destroy()
    for d in cg.dirs():
        parent_dir = os.path.dirname(d)
        if os.path.isdir(parent_dir):
            os.rmdir(parent_dir)


def member(cg) -> subprocess.Popen:
    """A process moved into `cg` that has since used CPU and memory there."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    cg.add(proc.pid)
    proc.stdin.write("go\n")
    proc.stdin.flush()
    assert proc.stdout.readline() == "ready\n"
    return proc


def answers(proc: subprocess.Popen, word: str) -> bool:
    proc.stdin.write(word + "\n")
    proc.stdin.flush()
    return proc.stdout.readline() == word + "\n"


def controllers(cg) -> set[str]:
    if cg.version == 1:
        return {c for c in ("memory", "pids") if os.path.isdir(os.path.join(cg.root, c))}
    with open(os.path.join(cg.root, "cgroup.controllers")) as fh:
        return set(fh.read().split())


def test_members_limits_and_stats(cgroup):
    has = controllers(cgroup)
    cgroup.create({"memory": {"limit": 256 << 20} if "memory" in has else {},
                   "pids": {"limit": 64} if "pids" in has else {}})
    assert all(os.path.isdir(d) for d in cgroup.dirs())
    proc = member(cgroup)
    try:
        assert cgroup.pids() == [proc.pid]
        stats = cgroup.stats()
        assert stats.cpu_usage and stats.cpu_usage > 0, stats
        if "memory" in has:
            assert stats.memory_usage >= 8 << 20 and stats.memory_limit == 256 << 20, stats
        else:
            assert stats.memory_usage is None and stats.memory_limit is None, stats
        if "pids" in has:
            assert stats.pids == 1, stats
        else:
            assert stats.pids is None, stats
        assert not cgroup.oom_killed()
    finally:
        proc.kill()
        proc.wait()


def test_freeze_and_thaw(cgroup):
    cgroup.create()
    proc = member(cgroup)
    try:
        assert not cgroup.frozen()
        cgroup.freeze()
        assert cgroup.frozen()
        cgroup.thaw()
        assert not cgroup.frozen()
        assert answers(proc, "thawed")
    finally:
        proc.kill()
        proc.wait()


def test_destroy_kills_what_is_left_even_frozen(cgroup):
    cgroup.create()
    proc = member(cgroup)
    cgroup.freeze()
    cgroup.destroy()
    assert proc.wait(timeout=10) == -9
    assert not any(os.path.exists(d) for d in cgroup.dirs())
