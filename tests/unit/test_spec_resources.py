"""spec.resources, spec.updates and spec.signals: a create's or an update's resource settings
checked as dockerd checks them (its words, its warnings, its defaults), what they make of
an OCI linux.resources, an update merged into a HostConfig, and signals as Docker names them."""

from __future__ import annotations

import os

import pytest

from services.common import errors
from services.kernel.cgroups import Features
from services.supervisor.spec import resources, signals, updates

ALL = Features(**{k: True for k in Features.__dataclass_fields__ if k not in ("cpus", "mems")}, cpus="0-1", mems="0")
NONE = Features(cpus="0-1", mems="0")
MB = 1 << 20


def read(host, features=ALL, update=False, config=None):
    return resources.read(host, config, update=update, features=features)


def test_create_fills_in_dockers_defaults():
    r, warnings = read({"Memory": 64 * MB, "PidsLimit": -1, "MemorySwappiness": -1})
    assert warnings == []
    assert r["MemorySwap"] == 128 * MB and r["OomKillDisable"] is False
    assert r["PidsLimit"] is None and r["MemorySwappiness"] is None
    assert "KernelMemory" not in r and "KernelMemoryTCP" not in r   # omitted when unset
    r, _ = read({}, config={"Memory": 32 * MB, "CpuShares": 3})   # v1.0's top level
    assert (r["Memory"], r["CpuShares"], r["MemorySwap"]) == (32 * MB, 3, 64 * MB)
    assert read({"Memory": 64 * MB, "MemorySwap": -1})[0]["MemorySwap"] == -1


@pytest.mark.parametrize("host, words", [
    ({"Memory": 5 * MB}, "Minimum memory limit allowed is 6MB"),
    ({"Memory": -1}, "Minimum memory limit allowed is 6MB"),
    ({"Memory": 64 * MB, "MemorySwap": 32 * MB},
     "Minimum memoryswap limit should be larger than memory limit, see usage"),
    ({"MemorySwap": 32 * MB}, "You should always set the Memory limit when using Memoryswap limit, see usage"),
    ({"MemorySwappiness": 101}, "Invalid value: 101, valid memory swappiness range is 0-100"),
    ({"MemoryReservation": 1 * MB}, "Minimum memory reservation allowed is 6MB"),
    ({"Memory": 16 * MB, "MemoryReservation": 32 * MB}, "Minimum memory limit can not be less than memory "
                                                         "reservation limit, see usage"),
    ({"KernelMemory": 1 * MB}, "Minimum kernel memory limit allowed is 6MB"),
    ({"NanoCpus": 10**9, "CpuPeriod": 100000}, "Conflicting options: Nano CPUs and CPU Period cannot both be set"),
    ({"NanoCpus": 10**9, "CpuQuota": 100000}, "Conflicting options: Nano CPUs and CPU Quota cannot both be set"),
    ({"NanoCpus": -1}, "Range of CPUs is from 0.01 to"),
    ({"CpuShares": -1}, "invalid CPU shares (-1): value must be a positive integer"),
    ({"CpuPeriod": 999}, "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"),
    ({"CpuPeriod": 1_000_001}, "CPU cfs period can not be less than 1ms"),
    ({"CpuQuota": 999}, "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
    ({"CpuQuota": -2}, "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
    ({"CpusetCpus": "2"}, "Requested CPUs are not available - requested 2, available: 0-1"),
    ({"CpusetCpus": "1-0"}, "Invalid value 1-0 for cpuset cpus: invalid format: 1-0"),
    ({"CpusetCpus": "a"}, "Invalid value a for cpuset cpus: invalid format: a"),
    ({"CpusetMems": "0,1"}, "Requested memory nodes are not available - requested 0,1, available: 0"),
    ({"BlkioWeight": 5}, "Range of blkio weight is from 10 to 1000"),
    ({"IOMaximumBandwidth": 1}, "Invalid QoS settings: linux does not support configuration of maximum bandwidth"),
    ({"IOMaximumIOps": 1}, "Invalid QoS settings: linux does not support configuration of maximum IOPs"),
    ({"CpuRealtimePeriod": 1000, "CpuRealtimeRuntime": 1001}, "cpu real-time runtime cannot be higher than cpu "
                                                               "real-time period"),
    ({"OomScoreAdj": -1001}, "Invalid value -1001, range for oom score adj is [-1000, 1000]"),
    ({"BlkioDeviceReadBps": [{"Path": "/no/such/disk", "Rate": 1}]}, "stat /no/such/disk: no such file or directory"),
    ({"BlkioDeviceWriteIOps": [{"Path": "/dev/null", "Rate": 1}]}, "/dev/null is not a block device"),
])
def test_refusals_in_dockers_words(host, words):
    with pytest.raises(errors.BadParameter) as exc:
        read(host)
    assert words in exc.value.message


def test_a_host_that_cannot_limit_warns_and_discards():
    r, warnings = read({"Memory": 64 * MB, "MemorySwappiness": 10, "MemoryReservation": 32 * MB,
                        "OomKillDisable": True, "PidsLimit": 5, "CpuShares": 5, "CpuQuota": 5000,
                        "BlkioWeight": 100, "BlkioWeightDevice": [{"Path": "/dev/null", "Weight": 10}],
                        "CpusetCpus": "7", "CpuPercent": 3}, features=NONE)
    assert warnings == [
        "Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded.",
        "Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory "
        "swappiness discarded.",
        "Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. Limitation "
        "discarded.",
        "Your kernel does not support OomKillDisable. OomKillDisable discarded.",
        "Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. PIDs limit discarded.",
        "Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded.",
        "Your kernel does not support CPU CFS scheduler. CPU period/quota discarded.",
        "linux does not support CPU percent. Percent discarded.",
        "Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded.",
        "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.",
        "Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.",
    ]
    assert (r["Memory"], r["MemorySwap"], r["MemorySwappiness"], r["MemoryReservation"], r["PidsLimit"]) == (
        0, -1, None, 0, None)
    assert (r["OomKillDisable"], r["CpuShares"], r["CpuQuota"], r["BlkioWeight"], r["BlkioWeightDevice"]) == (
        False, 0, 0, 0, [])
    # Without swap limits alone: memory limited, swap not.
    r, warnings = read({"Memory": 64 * MB}, features=Features(memory_limit=True))
    assert r["MemorySwap"] == -1 and warnings == ["Your kernel does not support swap limit capabilities or the "
                                                  "cgroup is not mounted. Memory limited without swap."]
    _, warnings = read({"OomKillDisable": True})
    assert warnings == ["OOM killer is disabled for the container, but no memory limit is set, this can result in "
                        "the system running out of resources."]
    _, warnings = read({"OomKillDisable": False}, features=NONE)   # asking to keep it is no loss
    assert warnings == []
    with pytest.raises(errors.BadParameter, match="does not support CPU real-time scheduler"):
        read({"CpuRealtimeRuntime": 500}, features=NONE)
    with pytest.raises(errors.BadParameter, match="NanoCPUs can not be set"):
        read({"NanoCpus": 10**8}, features=NONE)


def test_an_update_is_read_without_create_defaults():
    r, _ = read({"MemorySwap": 64 * MB}, update=True)   # swap alone: taken in an update
    assert r["MemorySwap"] == 64 * MB and r["OomKillDisable"] is None
    with pytest.raises(errors.BadParameter, match="Maximum IO Bandwidth or Maximum IO IOps"):
        read({"IOMaximumIOps": 1}, update=True)


def test_oci_resources_as_dockerd_makes_them(monkeypatch):
    monkeypatch.setattr(resources, "block_device", lambda path, where: (8, 16 if path.endswith("b") else 0))
    host = {"Memory": 64 * MB, "MemorySwap": 128 * MB, "MemoryReservation": 32 * MB, "MemorySwappiness": 40,
            "OomKillDisable": False, "KernelMemory": 0, "CpuShares": 512, "NanoCpus": 1_500_000_000,
            "CpusetCpus": "0", "CpusetMems": "", "CpuRealtimePeriod": 1000, "PidsLimit": 0, "BlkioWeight": 0,
            "BlkioWeightDevice": [{"Path": "/dev/sda", "Weight": 20}],
            "BlkioDeviceReadBps": [{"Path": "/dev/sdb", "Rate": 5}], "BlkioDeviceWriteIOps": None}
    assert resources.oci(host) == {
        "memory": {"limit": 64 * MB, "reservation": 32 * MB, "swap": 128 * MB, "swappiness": 40,
                   "disableOOMKiller": False},
        "cpu": {"shares": 512, "cpus": "0", "period": 100000, "quota": 150000, "realtimePeriod": 1000},
        "pids": {"limit": -1},
        "blockIO": {"weight": 0, "weightDevice": [{"major": 8, "minor": 0, "weight": 20}],
                    "throttleReadBpsDevice": [{"major": 8, "minor": 16, "rate": 5}]},
    }
    assert resources.oci({"Memory": 64 * MB})["memory"]["swap"] == 128 * MB   # a record older than the default
    assert "pids" not in resources.oci({"PidsLimit": None})


def test_a_device_weight_or_rate_not_given_is_0_as_go_reads_it(monkeypatch):
    monkeypatch.setattr(resources, "block_device", lambda path, where: (253, 0))
    monkeypatch.setattr(resources, "host_features", lambda: ALL)
    r, _ = read({"BlkioWeightDevice": [{"Path": "/dev/vda"}],
                 "BlkioDeviceReadBps": [{"Path": "/dev/vda", "Rate": None}],
                 "BlkioDeviceWriteIOps": [{"Path": "/dev/vda", "Rate": 7, "Other": 1}]})
    assert r["BlkioWeightDevice"] == [{"Path": "/dev/vda", "Weight": 0}]
    assert r["BlkioDeviceReadBps"] == [{"Path": "/dev/vda", "Rate": 0}]
    assert r["BlkioDeviceWriteIOps"] == [{"Path": "/dev/vda", "Rate": 7}]
    # A record kept before (without them) still makes its resources, for a start or an update.
    old = {"BlkioWeightDevice": [{"Path": "/dev/vda"}], "BlkioDeviceWriteBps": [{"Path": "/dev/vda"}]}
    assert resources.oci(old)["blockIO"] == {"weight": 0, "weightDevice": [{"major": 253, "minor": 0, "weight": 0}],
                                             "throttleWriteBpsDevice": [{"major": 253, "minor": 0, "rate": 0}]}
    given, policy = update({"BlkioWeightDevice": [{"Path": "/dev/vda"}]})
    new, changed = updates.merge(old, given, policy, "c1")
    assert new["BlkioWeightDevice"] == [{"Path": "/dev/vda", "Weight": 0}]
    assert updates.changes(old, new, changed)["blockIO"]["weightDevice"] == [{"major": 253, "minor": 0, "weight": 0}]


def test_block_devices_are_read_from_the_host():
    with pytest.raises(errors.BadParameter, match="must be the absolute path of a block device"):
        resources.block_device("sda", "HostConfig.BlkioDeviceReadBps[0]")
    block = next((os.path.join("/dev", n) for n in sorted(os.listdir("/dev"))
                  if os.path.exists(os.path.join("/sys/class/block", n))), None)
    if block is not None:   # a host with a block device node: its numbers
        st = os.stat(block)
        assert resources.block_device(block, "x") == (os.major(st.st_rdev), os.minor(st.st_rdev))


HOST = {"Memory": 64 * MB, "MemorySwap": 128 * MB, "CpuQuota": 50000, "CpuPeriod": 0, "NanoCpus": 0,
        "CpuShares": 0, "PidsLimit": None, "AutoRemove": False, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": 5}, {"Path": "/dev/sdb", "Rate": 6}]}


def update(body: dict):
    given, policy, warnings = updates.read(body)
    return given, policy


def test_an_update_merges_as_dockerd_merges(monkeypatch):
    monkeypatch.setattr(resources, "host_features", lambda: ALL)
    given, policy = update({"Memory": 96 * MB, "MemorySwap": 192 * MB, "CpuShares": 300, "PidsLimit": 0,
                            "CpusetCpus": "", "MemorySwappiness": None, "RestartPolicy": {"Name": "always"}})
    new, changed = updates.merge(HOST, given, policy, "c1")
    assert changed == {"Memory", "MemorySwap", "CpuShares", "PidsLimit"}
    assert (new["Memory"], new["MemorySwap"], new["CpuShares"], new["PidsLimit"], new["CpuQuota"]) == (
        96 * MB, 192 * MB, 300, 0, 50000)
    assert new["RestartPolicy"] == {"Name": "always", "MaximumRetryCount": 0} and HOST["Memory"] == 64 * MB
    given, policy = update({"RestartPolicy": {"Name": "", "MaximumRetryCount": 0}})   # the CLI's "none given"
    assert policy is None and updates.merge(HOST, given, policy, "c1") == (HOST, set())
    # What the host cannot limit is discarded (with Docker's warning), not set.
    monkeypatch.setattr(resources, "host_features", lambda: NONE)
    given, policy, warnings = updates.read({"BlkioDeviceReadBps": [{"Path": "/dev/null", "Rate": 1}],
                                            "MemorySwappiness": 10, "OomKillDisable": True})
    assert len(warnings) == 3 and updates.merge(HOST, given, policy, "c1") == (HOST, set())


@pytest.mark.parametrize("body, host, words", [
    ({"NanoCpus": 10**9}, {}, "Nano CPUs cannot be updated as CPU Quota has already been set"),
    ({"NanoCpus": 10**9}, {"CpuQuota": 0, "CpuPeriod": 20000}, "Nano CPUs cannot be updated as CPU Period has "),
    ({"CpuPeriod": 20000}, {"CpuQuota": 0, "NanoCpus": 10**9}, "CPU Period cannot be updated as NanoCPUs has"),
    ({"CpuQuota": 20000}, {"CpuQuota": 0, "NanoCpus": 10**9}, "CPU Quota cannot be updated as NanoCPUs has"),
    ({"Memory": 256 * MB}, {}, "Memory limit should be smaller than already set memoryswap limit, update the "
                               "memoryswap at the same time"),
    ({"Memory": 32 * MB}, {"MemorySwap": 0}, "Memory limit should be smaller than already set memoryswap"),
    ({"RestartPolicy": {"Name": "always"}}, {"AutoRemove": True}, "Restart policy cannot be updated because "
                                                                  "AutoRemove is enabled for the container"),
])
def test_update_conflicts(monkeypatch, body, host, words):
    monkeypatch.setattr(resources, "host_features", lambda: ALL)
    given, policy = update(body)
    with pytest.raises(errors.Conflict) as exc:
        updates.merge({**HOST, **host}, given, policy, "c1")
    assert exc.value.message.startswith("Cannot update container c1: ") and words in exc.value.message


@pytest.mark.parametrize("policy, words", [
    ({"Name": "sometimes"}, "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', "
                            "'on-failure', or 'unless-stopped'"),
    ({"Name": "always", "MaximumRetryCount": 2}, "invalid restart policy: maximum retry count can only be used "
                                                 "with 'on-failure'"),
    ({"Name": "no", "MaximumRetryCount": -2}, "can only be used with 'on-failure' and cannot be negative"),
    ({"Name": "on-failure", "MaximumRetryCount": -2}, "invalid restart policy: maximum retry count cannot be negative"),
])
def test_update_restart_policy_refusals(policy, words):
    with pytest.raises(errors.BadParameter) as exc:
        updates.restart_policy(policy)
    assert words in exc.value.message
    assert updates.restart_policy({"Name": "on-failure", "MaximumRetryCount": 4}) == {
        "Name": "on-failure", "MaximumRetryCount": 4}


def test_update_bodies_of_the_wrong_type():
    for body, words in [([], "must be a JSON object"), ({"Memory": "1g"}, "Memory must be an integer"),
                        ({"RestartPolicy": "always"}, "RestartPolicy must be an object"),
                        ({"BlkioWeight": 70000}, "BlkioWeight must be an integer from 0 to 65535")]:
        with pytest.raises(errors.BadParameter, match=words):
            updates.read(body)


def test_changes_are_the_whole_merged_resources_and_what_the_update_took_away(monkeypatch):
    # As dockerd tells runc: every limit the merged HostConfig holds, not only those changed
    # (a v2 file holds several: cpu.max quota and period, memory.swap.max from memory and swap).
    monkeypatch.setattr(resources, "host_features", lambda: ALL)
    monkeypatch.setattr(resources, "block_device", lambda path, where: (8, 16 if path.endswith("b") else 0))
    given, policy = update({"Memory": 32 * MB, "NanoCpus": 0, "CpuShares": 256, "PidsLimit": 0,
                            "BlkioDeviceReadBps": [{"Path": "/dev/sdb", "Rate": 9}]})
    new, changed = updates.merge(HOST, given, policy, "c1")
    assert updates.changes(HOST, new, changed) == {
        "memory": {"limit": 32 * MB, "swap": 128 * MB}, "cpu": {"shares": 256, "quota": 50000},
        "pids": {"limit": -1},
        # /dev/sda is no longer limited: its rule goes (a rate of 0).
        "blockIO": {"weight": 0, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 0},
                                                           {"major": 8, "minor": 16, "rate": 9}]}}
    host = {**HOST, "CpuQuota": 0}
    given, policy = update({"NanoCpus": 500_000_000, "MemorySwap": -1})
    new, changed = updates.merge(host, given, policy, "c1")
    assert updates.changes(host, new, changed) == {
        "memory": {"limit": 64 * MB, "swap": -1}, "cpu": {"period": 100000, "quota": 50000},
        "blockIO": {"weight": 0, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 5},
                                                           {"major": 8, "minor": 16, "rate": 6}]}}
    # Told back (a refusal's undo): no NanoCpus any more is no quota.
    assert updates.changes(new, host, changed)["cpu"] == {"period": 100000, "quota": -1}


@pytest.mark.parametrize("text, number", [("9", 9), ("+9", 9), ("KILL", 9), ("SIGKILL", 9), ("sigkill", 9),
                                          ("hup", 1), ("SigHup", 1), ("CLD", 17), ("IOT", 6), ("POLL", 29),
                                          ("RTMIN", 34), ("rtmin+15", 49), ("RTMAX-14", 50), ("SIGRTMAX", 64),
                                          (None, 9), ("", 9)])
def test_signals_as_docker_names_them(text, number):
    assert signals.signal_number(text) == number


@pytest.mark.parametrize("text, words", [("0", "invalid signal: 0"), ("SIGNOPE", "invalid signal: SIGNOPE"),
                                         ("RTMAX-15", "invalid signal: RTMAX-15"), ("SIG", "invalid signal: SIG"),
                                         ("SIGSIGKILL", "invalid signal: SIGSIGKILL"),
                                         ("65", "the linux daemon does not support signal 65"),
                                         ("32", "the linux daemon does not support signal 32"),
                                         ("-9", "the linux daemon does not support signal -9")])
def test_signals_docker_refuses(text, words):
    with pytest.raises(errors.BadParameter) as exc:
        signals.signal_number(text)
    assert exc.value.message == words
