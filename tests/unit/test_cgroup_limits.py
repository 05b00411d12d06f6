"""services.kernel.cgroups.limits and features: an OCI linux.resources as the files a v1 or
v2 cgroup is written (runc's conversions and orders), made on trees of files in a tmp dir,
and what a hierarchy can limit as dockerd's sysinfo reads it."""

from __future__ import annotations

import errno
import os

import pytest

from services.kernel.cgroups import V1, V2, features, limits

FULL = {
    "memory": {"limit": 64 << 20, "swap": 128 << 20, "reservation": 32 << 20, "swappiness": 40,
               "disableOOMKiller": True, "kernel": 64 << 20, "kernelTCP": 8 << 20},
    "cpu": {"shares": 512, "quota": 25000, "period": 50000, "realtimePeriod": 1000, "realtimeRuntime": 500,
            "cpus": "0-1", "mems": "0"},
    "pids": {"limit": 50},
    "blockIO": {"weight": 300, "weightDevice": [{"major": 8, "minor": 0, "weight": 200}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 0}]},
}


def triples(writes):
    return [(w.controller, w.name, w.value) for w in writes]


def test_v1_writes_every_limit_in_runcs_order():
    assert triples(limits.v1_writes(FULL)) == [
        ("memory", "memory.limit_in_bytes", str(64 << 20)),
        ("memory", "memory.memsw.limit_in_bytes", str(128 << 20)),
        ("memory", "memory.soft_limit_in_bytes", str(32 << 20)),
        ("memory", "memory.kmem.tcp.limit_in_bytes", str(8 << 20)),   # kernel memory itself: ignored
        ("memory", "memory.swappiness", "40"),
        ("memory", "memory.oom_control", "1"),
        ("cpu", "cpu.rt_period_us", "1000"),
        ("cpu", "cpu.rt_runtime_us", "500"),
        ("cpu", "cpu.shares", "512"),
        ("cpu", "cpu.cfs_period_us", "50000"),
        ("cpu", "cpu.cfs_quota_us", "25000"),
        ("cpuset", "cpuset.cpus", "0-1"),
        ("cpuset", "cpuset.mems", "0"),
        ("pids", "pids.max", "50"),
        ("blkio", "blkio.weight", "300"),
        ("blkio", "blkio.weight_device", "8:0 200"),
        ("blkio", "blkio.throttle.read_bps_device", "8:0 1048576"),
        ("blkio", "blkio.throttle.write_iops_device", "8:16 0"),   # 0: the device's rule goes
    ]
    weight = limits.v1_writes(FULL)[14]
    assert (weight.fallback.name, weight.fallback.value) == ("blkio.bfq.weight", "300")


@pytest.mark.parametrize("limit_now, first", [(None, "memory.limit_in_bytes"), (64 << 20, "memory.limit_in_bytes"),
                                              (32 << 20, "memory.memsw.limit_in_bytes")])
def test_v1_memory_and_swap_in_the_order_the_kernel_takes(limit_now, first):
    # memory.limit may never pass memsw.limit: a swap limit above the current memory limit goes first.
    writes = limits.v1_writes({"memory": {"limit": 48 << 20, "swap": 48 << 20}}, limit_now)
    assert writes[0].name == first and len(writes) == 2
    writes = limits.v1_writes({"memory": {"limit": 48 << 20, "swap": -1}}, 32 << 20)
    assert triples(writes) == [("memory", "memory.memsw.limit_in_bytes", "-1"),
                               ("memory", "memory.limit_in_bytes", str(48 << 20))]
    # Unlimited memory with no swap named: unlimited swap too.
    assert triples(limits.v1_writes({"memory": {"limit": -1}}, 1 << 30))[0] == (
        "memory", "memory.memsw.limit_in_bytes", "-1")


def test_v1_names_only_what_is_given():
    assert limits.v1_writes({}) == []
    assert triples(limits.v1_writes({"pids": {"limit": -1}, "memory": {"disableOOMKiller": False}})) == [
        ("memory", "memory.oom_control", "0"), ("pids", "pids.max", "max")]
    assert limits.v1_writes({"pids": {"limit": 0}, "cpu": {"quota": 0}, "blockIO": {"weight": 0}}) == []


def test_v2_writes_convert_as_runc_does():
    assert triples(limits.v2_writes(FULL)) == [
        ("", "memory.swap.max", str(64 << 20)),   # swap alone: memory+swap less memory
        ("", "memory.max", str(64 << 20)),
        ("", "memory.low", str(32 << 20)),
        ("", "cpu.weight", str(1 + (510 * 9999) // 262142)),
        ("", "cpu.max", "25000 50000"),
        ("", "cpuset.cpus", "0-1"),
        ("", "cpuset.mems", "0"),
        ("", "pids.max", "50"),
        ("", "io.bfq.weight", "300"),
        ("", "io.bfq.weight", "8:0 200"),
        ("", "io.max", "8:0 rbps=1048576"),
        ("", "io.max", "8:16 wiops=max"),   # 0: no limit
    ]
    assert limits.v2_writes(FULL)[8].fallback.value == str(1 + (300 - 10) * 9999 // 990)


@pytest.mark.parametrize("memory, writes", [
    ({"limit": 64, "swap": 64}, [("memory.swap.max", "0"), ("memory.max", "64")]),
    ({"limit": 64, "swap": -1}, [("memory.swap.max", "max"), ("memory.max", "64")]),
    ({"limit": -1}, [("memory.swap.max", "max"), ("memory.max", "max")]),
    ({"limit": 64}, [("memory.max", "64")]),
])
def test_v2_swap(memory, writes):
    assert [(w.name, w.value) for w in limits.v2_writes({"memory": memory})] == writes


def test_a_device_weight_of_0_is_no_weight_of_its_own():
    # The old CFQ file takes 0 for that; BFQ's refuse 0 (out of range) and take "default".
    block = {"blockIO": {"weightDevice": [{"major": 8, "minor": 0, "weight": 0}]}}
    (w,) = limits.v1_writes(block)
    assert (w.name, w.value, w.fallback.name, w.fallback.value) == (
        "blkio.weight_device", "8:0 0", "blkio.bfq.weight_device", "8:0 default")
    assert triples(limits.v2_writes(block)) == [("", "io.bfq.weight", "8:0 default")]


def test_v2_refuses_a_swap_it_cannot_hold():
    with pytest.raises(ValueError, match="memory\\+swap limit should be >= memory limit"):
        limits.v2_writes({"memory": {"limit": 64, "swap": 32}})
    with pytest.raises(ValueError, match="without memory limit"):
        limits.v2_writes({"memory": {"swap": 32}})
    assert [(w.name, w.value) for w in limits.v2_writes({"cpu": {"quota": -1}})] == [("cpu.max", "max")]
    assert [(w.name, w.value) for w in limits.v2_writes({"cpu": {"period": 20000}})] == [("cpu.max", "max 20000")]


def files(root: str, names: list[str]) -> None:
    for name in names:
        os.makedirs(os.path.dirname(os.path.join(root, name)), exist_ok=True)
        with open(os.path.join(root, name), "w") as fh:
            fh.write("")


def text(path: str) -> str:
    with open(path) as fh:
        return fh.read()


def test_apply_skips_what_is_not_there_and_takes_a_fallback(tmp_path):
    files(str(tmp_path), ["blkio.bfq.weight", "pids.max"])
    limits.apply(limits.v1_writes({"blockIO": {"weight": 300}, "pids": {"limit": 7}, "memory": {"limit": 64}}),
                 lambda _, name: str(tmp_path / name))
    assert text(tmp_path / "blkio.bfq.weight") == "300" and text(tmp_path / "pids.max") == "7"
    assert not (tmp_path / "memory.limit_in_bytes").exists()


def test_apply_writes_a_period_again_after_its_quota(tmp_path, monkeypatch):
    files(str(tmp_path), ["cpu.cfs_period_us", "cpu.cfs_quota_us"])
    made, refused = [], []
    real = limits._write

    def write(path, value):
        if path.endswith("period_us") and not refused:   # the kernel's EINVAL the first time
            refused.append(value)
            raise OSError(errno.EINVAL, "Invalid argument")
        made.append(os.path.basename(path))
        real(path, value)
    monkeypatch.setattr(limits, "_write", write)
    limits.apply(limits.v1_writes({"cpu": {"period": 10000, "quota": 5000}}), lambda _, name: str(tmp_path / name))
    assert made == ["cpu.cfs_quota_us", "cpu.cfs_period_us"] and text(tmp_path / "cpu.cfs_period_us") == "10000"
    refused.clear()
    monkeypatch.setattr(limits, "_write", write)
    with pytest.raises(OSError, match='cannot write "10000" to .*cpu.cfs_period_us: Invalid argument'):
        limits.apply(limits.v1_writes({"cpu": {"period": 10000}}), lambda _, name: str(tmp_path / name))


def test_v1_create_gives_cpuset_its_parents_and_update_writes_in_place(tmp_path):
    root = str(tmp_path)
    files(root, ["cpuset/cpuset.cpus", "cpuset/cpuset.mems", "memory/x", "cpu/x", "pids/x"])
    with open(os.path.join(root, "cpuset/cpuset.cpus"), "w") as fh:
        fh.write("0-3\n")
    with open(os.path.join(root, "cpuset/cpuset.mems"), "w") as fh:
        fh.write("0\n")
    cg = V1("parent/box", root=root)
    cg.create({})
    assert text(os.path.join(root, "cpuset/parent/box/cpuset.cpus")) == "0-3"
    assert text(os.path.join(root, "cpuset/parent/cpuset.mems")) == "0"
    assert os.path.join(root, "cpuset/parent/box") in cg.dirs()
    # The kernel makes a new cgroup's files; here they are made by hand.
    files(root, ["memory/parent/box/memory.limit_in_bytes", "memory/parent/box/memory.memsw.limit_in_bytes",
                 "cpu/parent/box/cpu.shares", "pids/parent/box/pids.max"])
    cg.update({"memory": {"limit": 48 << 20, "swap": 96 << 20}, "cpu": {"shares": 300, "cpus": "1"},
               "pids": {"limit": 9}})
    assert text(os.path.join(root, "memory/parent/box/memory.limit_in_bytes")) == str(48 << 20)
    assert text(os.path.join(root, "memory/parent/box/memory.memsw.limit_in_bytes")) == str(96 << 20)
    assert text(os.path.join(root, "cpu/parent/box/cpu.shares")) == "300"
    assert text(os.path.join(root, "cpuset/parent/box/cpuset.cpus")) == "1"
    assert text(os.path.join(root, "pids/parent/box/pids.max")) == "9"


def test_v2_update_writes_in_its_one_directory(tmp_path):
    root = str(tmp_path)
    files(root, ["box/memory.max", "box/memory.swap.max", "box/cpu.max", "box/io.weight"])
    V2("box", root=root).update({"memory": {"limit": 64, "swap": 96}, "cpu": {"quota": 5000, "period": 10000},
                                 "blockIO": {"weight": 1000}})
    assert (text(tmp_path / "box/memory.max"), text(tmp_path / "box/memory.swap.max")) == ("64", "32")
    assert text(tmp_path / "box/cpu.max") == "5000 10000" and text(tmp_path / "box/io.weight") == "10000"
    with pytest.raises(OSError, match="should be >= memory limit"):
        V2("box", root=root).update({"memory": {"limit": 64, "swap": 32}})


def test_features_of_a_v1_tree(tmp_path):
    root = str(tmp_path)
    files(root, ["memory/memory.limit_in_bytes", "memory/memory.soft_limit_in_bytes", "memory/memory.oom_control",
                 "cpu/cpu.shares", "cpu/cpu.cfs_quota_us", "blkio/blkio.throttle.read_bps_device", "pids/x",
                 "cpuset/cpuset.cpus", "cpuset/cpuset.mems"])
    with open(os.path.join(root, "cpuset/cpuset.cpus"), "w") as fh:
        fh.write("0-7\n")
    f = features(root)
    assert f.memory_limit and f.memory_reservation and f.oom_kill_disable and f.cpu_shares and f.cpu_cfs
    assert not f.swap_limit and not f.memory_swappiness and not f.cpu_realtime and not f.kernel_memory
    assert f.blkio_read_bps and not f.blkio_write_bps and not f.blkio_weight and f.pids_limit
    assert (f.cpuset, f.cpus, f.mems) == (True, "0-7", "")


def test_features_of_a_v2_tree(tmp_path):
    root = str(tmp_path)
    files(root, ["cgroup.controllers", "cpuset.cpus.effective", "cpuset.mems.effective"])
    with open(os.path.join(root, "cgroup.controllers"), "w") as fh:
        fh.write("cpuset cpu io memory pids\n")
    with open(os.path.join(root, "cpuset.cpus.effective"), "w") as fh:
        fh.write("0-3\n")
    f = features(root)
    assert f.memory_limit and f.memory_reservation and f.cpu_shares and f.cpu_cfs and f.blkio_weight
    assert f.pids_limit and (f.cpus, f.mems) == ("0-3", "")
    # What v2 never has, as dockerd tells it.
    assert not (f.oom_kill_disable or f.memory_swappiness or f.kernel_memory or f.cpu_realtime)
