"""docker update told to a running container's cgroup (spec.updates.changes, then the v1 or
v2 Cgroup's update), on trees of files in a tmp dir: the files end up holding the merged
HostConfig, also where one v2 file holds several settings (cpu.max: quota and period;
memory.swap.max: what memory+swap leaves beyond memory)."""

from __future__ import annotations

import os

import pytest

from services.kernel.cgroups import V1, V2, Features
from services.supervisor.spec import resources, updates

ALL = Features(**{k: True for k in Features.__dataclass_fields__ if k not in ("cpus", "mems")}, cpus="0-1", mems="0")
MB = 1 << 20


@pytest.fixture(autouse=True)
def host_limits_everything(monkeypatch):
    monkeypatch.setattr(resources, "host_features", lambda: ALL)


def made(root: str, contents: dict[str, str]) -> None:
    for name, value in contents.items():
        os.makedirs(os.path.dirname(os.path.join(root, name)), exist_ok=True)
        with open(os.path.join(root, name), "w") as fh:
            fh.write(value)


def text(root: str, name: str) -> str:
    with open(os.path.join(root, name)) as fh:
        return fh.read()


def created(host: dict) -> dict:
    """The HostConfig a create keeps (Docker's defaults filled in)."""
    settings, _ = resources.read(host, features=ALL)
    return {**host, **settings}


def updated(cgroup, host: dict, body: dict) -> dict:
    """`body` merged into `host` and told to `cgroup`, as container.update does; the new HostConfig."""
    given, policy, _ = updates.read(body)
    new, changed = updates.merge(host, given, policy, "c1")
    cgroup.update(updates.changes(host, new, changed))
    return new


def test_v2_keeps_the_quota_when_the_period_is_updated_and_the_other_way_round(tmp_path):
    root = str(tmp_path)
    made(root, {"box/cpu.max": "25000 100000"})   # as a create with --cpu-quota 25000 left it
    host = created({"CpuQuota": 25000})
    host = updated(V2("box", root=root), host, {"CpuPeriod": 50000})
    assert text(root, "box/cpu.max") == "25000 50000"
    updated(V2("box", root=root), host, {"CpuQuota": 40000})
    assert text(root, "box/cpu.max") == "40000 50000"


def test_v2_swap_follows_an_updated_memory_limit(tmp_path):
    root = str(tmp_path)
    made(root, {"box/memory.max": str(512 * MB), "box/memory.swap.max": str(512 * MB)})   # -m 512m --memory-swap 1g
    host = created({"Memory": 512 * MB, "MemorySwap": 1024 * MB})
    host = updated(V2("box", root=root), host, {"Memory": 768 * MB})
    assert (text(root, "box/memory.max"), text(root, "box/memory.swap.max")) == (str(768 * MB), str(256 * MB))
    # Unlimited swap; a later update of something else leaves it so.
    host = updated(V2("box", root=root), host, {"MemorySwap": -1})
    assert text(root, "box/memory.swap.max") == "max"
    updated(V2("box", root=root), host, {"CpuShares": 512})
    assert (text(root, "box/memory.max"), text(root, "box/memory.swap.max")) == (str(768 * MB), "max")


def test_v1_holds_the_merged_values_too(tmp_path):
    root = str(tmp_path)
    made(root, {"cpu/box/cpu.cfs_quota_us": "25000", "cpu/box/cpu.cfs_period_us": "100000",
                "cpu/box/cpu.shares": "1024", "memory/box/memory.limit_in_bytes": str(512 * MB),
                "memory/box/memory.memsw.limit_in_bytes": str(1024 * MB)})
    host = created({"CpuQuota": 25000, "Memory": 512 * MB, "MemorySwap": 1024 * MB})
    host = updated(V1("box", root=root), host, {"CpuPeriod": 50000, "Memory": 768 * MB})
    assert (text(root, "cpu/box/cpu.cfs_quota_us"), text(root, "cpu/box/cpu.cfs_period_us")) == ("25000", "50000")
    assert text(root, "memory/box/memory.limit_in_bytes") == str(768 * MB)
    assert text(root, "memory/box/memory.memsw.limit_in_bytes") == str(1024 * MB)
    updated(V1("box", root=root), host, {"CpuShares": 512})
    assert text(root, "cpu/box/cpu.shares") == "512" and text(root, "cpu/box/cpu.cfs_quota_us") == "25000"
