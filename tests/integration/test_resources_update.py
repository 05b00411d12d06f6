"""A container's resource limits as the kernel holds them: each read back from its cgroup's
files (v1 or v2, whichever this host has; both are coded) and from inside the container
where it shows there, under the built-in runtime and runc; Docker's refusals and warnings
at create; and POST /containers/{id}/update (docker-py and the docker CLI), applied to a
running container's cgroup at once and to a stopped one's next start, kept across a
restart of every service."""

from __future__ import annotations

import json
import os

import docker
import pytest

from ..polling import until
from .containers import docker as docker_cli
from .containers import ensure_busybox
from .daemon import Daemon

ROOT = "/sys/fs/cgroup"
V2 = os.path.exists(os.path.join(ROOT, "cgroup.controllers"))
RUNTIMES = ("builtin", "runc")
MB = 1 << 20


def host_has(controller: str, name: str) -> bool:
    """Whether this host's cgroups have the file `name` (v1: in `controller`'s hierarchy)."""
    if V2:
        with open(os.path.join(ROOT, "cgroup.controllers")) as fh:
            return controller in fh.read().split()
    return os.path.exists(os.path.join(ROOT, controller, name))


SWAP = host_has("memory", "memory.memsw.limit_in_bytes") if not V2 else False
SWAPPINESS = not V2 and host_has("memory", "memory.swappiness")
OOM_CONTROL = not V2 and host_has("memory", "memory.oom_control")
BLKIO_WEIGHT = (host_has("io", "") if V2
                else host_has("blkio", "blkio.weight") or host_has("blkio", "blkio.bfq.weight"))
THROTTLE = host_has("io", "") if V2 else host_has("blkio", "blkio.throttle.read_bps_device")
REALTIME = not V2 and host_has("cpu", "cpu.rt_period_us")


def cgroup_text(daemon: Daemon, cid: str, controller: str, name: str) -> str:
    """The text of a file of the container's cgroup (v1: in `controller`'s hierarchy)."""
    base = ROOT if V2 else os.path.join(ROOT, controller)
    with open(os.path.join(base, daemon.cgroup_parent, cid, name)) as fh:
        return fh.read().strip()


def memory_limit(daemon, cid) -> int:
    text = cgroup_text(daemon, cid, "memory", "memory.max" if V2 else "memory.limit_in_bytes")
    return -1 if text == "max" or int(text) >= 1 << 62 else int(text)


def memory_and_swap(daemon, cid) -> int:
    """memory+swap, as Docker's MemorySwap counts it."""
    if V2:
        return memory_limit(daemon, cid) + int(cgroup_text(daemon, cid, "memory", "memory.swap.max"))
    return int(cgroup_text(daemon, cid, "memory", "memory.memsw.limit_in_bytes"))


def reservation(daemon, cid) -> int:
    return int(cgroup_text(daemon, cid, "memory", "memory.low" if V2 else "memory.soft_limit_in_bytes"))


def cpu_shares(daemon, cid) -> int:
    """cpu.shares (v1), or the v2 weight it stands for, as runc converts."""
    if V2:
        return int(cgroup_text(daemon, cid, "cpu", "cpu.weight"))
    return int(cgroup_text(daemon, cid, "cpu", "cpu.shares"))


def weight_of(shares: int) -> int:
    return shares if not V2 else 1 + ((shares - 2) * 9999) // 262142


def cfs(daemon, cid) -> tuple[str, int]:
    """(quota, period) in microseconds; quota "max" for none."""
    if V2:
        quota, period = cgroup_text(daemon, cid, "cpu", "cpu.max").split()
        return quota, int(period)
    quota = int(cgroup_text(daemon, cid, "cpu", "cpu.cfs_quota_us"))
    return ("max" if quota < 0 else str(quota)), int(cgroup_text(daemon, cid, "cpu", "cpu.cfs_period_us"))


def pids_max(daemon, cid) -> str:
    return cgroup_text(daemon, cid, "pids", "pids.max")


def read_bps(daemon, cid) -> str:
    """The read-bytes throttles: "major:minor rate" lines (v2's io.max rbps= as the same)."""
    if V2:
        lines = cgroup_text(daemon, cid, "io", "io.max").splitlines()
        return "\n".join(f"{line.split()[0]} {field[5:]}" for line in lines for field in line.split()[1:]
                         if field.startswith("rbps=") and field != "rbps=max")
    return cgroup_text(daemon, cid, "blkio", "blkio.throttle.read_bps_device")


def block_device() -> tuple[str, str]:
    """A block device of the host (the one holding /): its path and major:minor."""
    st = os.stat("/")
    numbers = f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"
    for name in sorted(os.listdir("/sys/dev/block"), key=lambda n: n != numbers):
        with open(f"/sys/dev/block/{name}/uevent") as fh:
            node = dict(line.strip().split("=", 1) for line in fh if "=" in line).get("DEVNAME")
        if node and os.path.exists(f"/dev/{node}"):
            return f"/dev/{node}", name
    raise AssertionError("the host has no block device node")


def api(daemon: Daemon, method: str, path: str, body=None):
    data = json.dumps(body).encode() if body is not None else None
    return daemon.request(method, path, body=data, headers={"Content-Type": "application/json"})


def run(client, runtime: str = "builtin", cmd=("top",), **kw):
    return client.containers.run("busybox", list(cmd), detach=True, runtime=runtime, **kw)


# ------------------------------------------------------------------ at create


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_limits_reach_the_cgroup_and_the_container(client, daemon, runtime):
    device, numbers = block_device()
    kw = dict(mem_limit=64 * MB, mem_reservation=32 * MB, cpu_shares=512, cpu_period=50000, cpu_quota=25000,
              cpuset_cpus="0", pids_limit=50, oom_score_adj=300)
    if SWAP:
        kw["memswap_limit"] = 96 * MB
    if SWAPPINESS:
        kw["mem_swappiness"] = 40
    if OOM_CONTROL:
        kw["oom_kill_disable"] = True
    if THROTTLE:
        kw["device_read_bps"] = [{"Path": device, "Rate": 1 << 20}]
    ctr = run(client, runtime, ["sh", "-c", "cat /proc/self/oom_score_adj; grep Cpus_allowed_list /proc/self/status;"
                                            " echo ready; exec top"], **kw)
    try:
        until(lambda: b"ready" in ctr.logs(), 20, "the container's report")
        cid = ctr.id
        assert memory_limit(daemon, cid) == 64 * MB
        if SWAP:
            assert memory_and_swap(daemon, cid) == 96 * MB
        assert reservation(daemon, cid) == 32 * MB
        assert cpu_shares(daemon, cid) == weight_of(512)
        assert cfs(daemon, cid) == ("25000", 50000)
        assert cgroup_text(daemon, cid, "cpuset", "cpuset.cpus") == "0"
        assert pids_max(daemon, cid) == "50"
        if SWAPPINESS:
            assert cgroup_text(daemon, cid, "memory", "memory.swappiness") == "40"
        if OOM_CONTROL:
            assert "oom_kill_disable 1" in cgroup_text(daemon, cid, "memory", "memory.oom_control")
        if THROTTLE:
            assert f"{numbers} {1 << 20}" in read_bps(daemon, cid)
        # Inside: its OOM score and the CPUs it may run on.
        lines = ctr.logs().decode().splitlines()
        assert lines[0] == "300"
        assert lines[1].split() == ["Cpus_allowed_list:", "0"]
        host = client.api.inspect_container(cid)["HostConfig"]
        assert (host["Memory"], host["MemoryReservation"], host["CpuShares"], host["PidsLimit"]) == (
            64 * MB, 32 * MB, 512, 50)
        assert host["MemorySwap"] == (96 * MB if SWAP else -1)   # -1: Docker's word for a host without swap limits
    finally:
        ctr.remove(force=True)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_nano_cpus_and_defaults(client, daemon, runtime):
    ctr = run(client, runtime, nano_cpus=500_000_000, mem_limit=32 * MB)
    try:
        until(lambda: ctr.reload() or ctr.status == "running", 20, "the container to run")
        assert cfs(daemon, ctr.id) == ("50000", 100000)
        host = client.api.inspect_container(ctr.id)["HostConfig"]
        assert host["NanoCpus"] == 500_000_000 and host["CpuQuota"] == 0 and host["CpuPeriod"] == 0
        # Docker's defaults: twice the memory as memory+swap, the OOM killer on.
        assert host["MemorySwap"] == (64 * MB if SWAP else -1) and host["OomKillDisable"] is False
        if SWAP:
            assert memory_and_swap(daemon, ctr.id) == 64 * MB
    finally:
        ctr.remove(force=True)


def test_pids_limit_is_enforced_inside(client):
    # Each `tail -f` stays: a fork past the limit fails (and ends the subshell that tried it).
    ctr = run(client, cmd=["sh", "-c", "(for i in 1 2 3 4 5 6 7 8; do tail -f /dev/null & done) 2>&1; "
                                       "echo forked; exec top"], pids_limit=4)
    try:
        until(lambda: b"forked" in ctr.logs(), 20, "the forks to be tried")
        assert b"can't fork" in ctr.logs() or b"Resource temporarily unavailable" in ctr.logs(), ctr.logs()
    finally:
        ctr.remove(force=True)


def test_a_memory_limit_is_enforced_inside(client):
    # /dev/shm's pages are the container's: past its limit (without swap), the kernel kills it.
    ctr = run(client, cmd=["dd", "if=/dev/zero", "of=/dev/shm/fill", "bs=1M", "count=60"],
              mem_limit=16 * MB, memswap_limit=16 * MB if SWAP else None, shm_size=128 * MB)
    try:
        assert ctr.wait(timeout=60)["StatusCode"] == 137
        ctr.reload()
        assert ctr.attrs["State"]["OOMKilled"] is True
    finally:
        ctr.remove(force=True)


def test_create_refusals_in_dockers_words(daemon):
    ensure_busybox(daemon)
    for host, words in [
        ({"Memory": 1 * MB}, "Minimum memory limit allowed is 6MB"),
        ({"Memory": 64 * MB, "MemorySwap": 32 * MB}, "Minimum memoryswap limit should be larger than memory limit"),
        ({"MemorySwap": 64 * MB}, "You should always set the Memory limit when using Memoryswap limit"),
        ({"Memory": 16 * MB, "MemoryReservation": 32 * MB}, "Minimum memory limit can not be less than memory "
                                                             "reservation limit"),
        ({"NanoCpus": 500_000_000, "CpuPeriod": 100000}, "Conflicting options: Nano CPUs and CPU Period cannot "
                                                          "both be set"),
        ({"NanoCpus": 500_000_000, "CpuQuota": 50000}, "Conflicting options: Nano CPUs and CPU Quota cannot both"),
        ({"NanoCpus": 1000 * 10**9}, "Range of CPUs is from 0.01 to"),
        ({"CpuPeriod": 500}, "CPU cfs period can not be less than 1ms"),
        ({"CpuQuota": 500}, "CPU cfs quota can not be less than 1ms"),
        ({"CpusetCpus": "1023"}, "Requested CPUs are not available - requested 1023, available: "),
        ({"CpusetCpus": "0-x"}, "Invalid value 0-x for cpuset cpus"),
        ({"CpusetMems": "77"}, "Requested memory nodes are not available - requested 77"),
        ({"OomScoreAdj": 1001}, "Invalid value 1001, range for oom score adj is [-1000, 1000]"),
        ({"CpuRealtimePeriod": 1000, "CpuRealtimeRuntime": 2000},
         "cpu real-time runtime cannot be higher than cpu real-time period" if REALTIME
         else "Your kernel does not support CPU real-time scheduler"),
        ({"BlkioDeviceReadBps": [{"Path": "/dev/no-such-disk", "Rate": 1}]}, "stat /dev/no-such-disk"),
        ({"CpuShares": -2}, "invalid CPU shares (-2)"),
        ({"IOMaximumIOps": 10}, "Invalid QoS settings"),
    ] + ([({"MemorySwappiness": 101}, "Invalid value: 101, valid memory swappiness range is 0-100")]
         if SWAPPINESS else []):
        r = api(daemon, "POST", "/v1.45/containers/create", {"Image": "busybox", "Cmd": ["true"], "HostConfig": host})
        assert r.status == 400, (host, r.body)
        assert words in r.json()["message"], (host, r.json())


def test_create_warnings_where_the_host_cannot_limit(daemon):
    ensure_busybox(daemon)
    r = api(daemon, "POST", "/v1.45/containers/create", {"Image": "busybox", "Cmd": ["true"], "HostConfig": {
        "BlkioWeight": 300, "OomKillDisable": True, "CpuPercent": 50}})
    assert r.status == 201, r.body
    cid, warnings = r.json()["Id"], r.json()["Warnings"]
    try:
        host = api(daemon, "GET", f"/v1.45/containers/{cid}/json").json()["HostConfig"]
        assert "linux does not support CPU percent. Percent discarded." in warnings and host["CpuPercent"] == 0
        weight = "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."
        assert (weight in warnings) == (not BLKIO_WEIGHT)
        assert host["BlkioWeight"] == (300 if BLKIO_WEIGHT else 0)
        if OOM_CONTROL:
            assert ("OOM killer is disabled for the container, but no memory limit is set, this can result in the "
                    "system running out of resources.") in warnings
        else:
            assert "Your kernel does not support OomKillDisable. OomKillDisable discarded." in warnings
    finally:
        api(daemon, "DELETE", f"/containers/{cid}?force=1")


def test_kernel_memory_is_ignored_from_api_1_42(daemon):
    ensure_busybox(daemon)
    kept = {}
    for version in ("1.41", "1.45"):
        r = api(daemon, "POST", f"/v{version}/containers/create", {"Image": "busybox", "Cmd": ["true"],
                                                                    "HostConfig": {"KernelMemory": 64 * MB}})
        assert r.status == 201, r.body
        cid = r.json()["Id"]
        kept[version] = api(daemon, "GET", f"/v1.45/containers/{cid}/json").json()["HostConfig"].get("KernelMemory")
        warned = any("kernel memory limit" in w for w in r.json()["Warnings"] or [])
        api(daemon, "DELETE", f"/containers/{cid}?force=1")
        if version == "1.41":   # kept where the host has the file (kernels ignore it), else warned of
            has_kmem = not V2 and host_has("memory", "memory.kmem.limit_in_bytes")
            assert (kept[version], warned) == ((64 * MB, False) if has_kmem else (None, True))
    assert kept["1.45"] is None


def test_realtime_as_docker_answers_on_this_kernel(daemon):
    ensure_busybox(daemon)
    r = api(daemon, "POST", "/v1.45/containers/create", {"Image": "busybox", "Cmd": ["true"], "HostConfig": {
        "CpuRealtimePeriod": 1000, "CpuRealtimeRuntime": 500}})
    if not REALTIME:
        assert r.status == 400 and "does not support CPU real-time scheduler" in r.json()["message"]
        return
    assert r.status == 201, r.body
    cid = r.json()["Id"]
    try:
        host = api(daemon, "GET", f"/v1.45/containers/{cid}/json").json()["HostConfig"]
        assert (host["CpuRealtimePeriod"], host["CpuRealtimeRuntime"]) == (1000, 500)
        # As dockerd without --cpu-rt-runtime: the daemon's cgroup has no real-time budget to give.
        r = api(daemon, "POST", f"/v1.45/containers/{cid}/start")
        assert r.status in (400, 500) and "cpu.rt_runtime_us" in r.json()["message"], r.body
    finally:
        api(daemon, "DELETE", f"/containers/{cid}?force=1")


# --------------------------------------------------------------------- update


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_update_reaches_a_running_container_at_once(client, daemon, runtime):
    ctr = run(client, runtime, mem_limit=64 * MB, cpu_shares=512)
    try:
        until(lambda: ctr.reload() or ctr.status == "running", 20, "the container to run")
        answer = client.api.update_container(ctr.id, mem_limit=48 * MB, memswap_limit=80 * MB, cpu_shares=256,
                                             cpu_period=100000, cpu_quota=20000, cpuset_cpus="0",
                                             mem_reservation=16 * MB)
        assert answer.get("Warnings") in (None, [])
        assert memory_limit(daemon, ctr.id) == 48 * MB
        if SWAP:
            assert memory_and_swap(daemon, ctr.id) == 80 * MB
        assert cpu_shares(daemon, ctr.id) == weight_of(256)
        assert cfs(daemon, ctr.id) == ("20000", 100000)
        assert cgroup_text(daemon, ctr.id, "cpuset", "cpuset.cpus") == "0"
        assert reservation(daemon, ctr.id) == 16 * MB
        r = api(daemon, "POST", f"/v1.45/containers/{ctr.id}/update", {"PidsLimit": 30})
        assert r.status == 200 and r.json() == {"Warnings": None}
        assert pids_max(daemon, ctr.id) == "30"
        r = api(daemon, "POST", f"/v1.45/containers/{ctr.id}/update", {"PidsLimit": 0})   # 0: none from now on
        assert r.status == 200 and pids_max(daemon, ctr.id) == "max"
        host = client.api.inspect_container(ctr.id)["HostConfig"]
        assert (host["Memory"], host["MemorySwap"], host["CpuShares"], host["CpuQuota"], host["CpuPeriod"],
                host["CpusetCpus"], host["MemoryReservation"], host["PidsLimit"]) == (
            48 * MB, 80 * MB, 256, 20000, 100000, "0", 16 * MB, 0)
    finally:
        ctr.remove(force=True)


def test_update_of_a_paused_container_and_of_its_devices(client, daemon):
    device, numbers = block_device()
    ctr = run(client, mem_limit=64 * MB)
    try:
        until(lambda: ctr.reload() or ctr.status == "running", 20, "the container to run")
        ctr.pause()
        body = {"Memory": 40 * MB, "MemorySwap": 80 * MB}
        if THROTTLE:
            body["BlkioDeviceReadBps"] = [{"Path": device, "Rate": 2 << 20}]
        r = api(daemon, "POST", f"/v1.45/containers/{ctr.id}/update", body)
        assert r.status == 200, r.body
        assert memory_limit(daemon, ctr.id) == 40 * MB
        if THROTTLE:
            assert f"{numbers} {2 << 20}" in read_bps(daemon, ctr.id)
            # An empty list takes the device's limit away.
            assert api(daemon, "POST", f"/v1.45/containers/{ctr.id}/update", {"BlkioDeviceReadBps": []}).status == 200
            assert numbers not in read_bps(daemon, ctr.id)
        ctr.unpause()
    finally:
        ctr.remove(force=True)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_update_of_a_stopped_container_is_used_at_its_next_start(client, daemon, runtime):
    ctr = client.containers.create("busybox", ["top"], runtime=runtime, mem_limit=64 * MB)
    try:
        r = api(daemon, "POST", f"/v1.45/containers/{ctr.id}/update", {
            "Memory": 96 * MB, "MemorySwap": 192 * MB, "CpuShares": 300, "PidsLimit": 25,
            "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}})
        assert r.status == 200, r.body
        ctr.start()
        assert memory_limit(daemon, ctr.id) == 96 * MB
        assert cpu_shares(daemon, ctr.id) == weight_of(300) and pids_max(daemon, ctr.id) == "25"
        assert client.api.inspect_container(ctr.id)["HostConfig"]["RestartPolicy"] == {
            "Name": "on-failure", "MaximumRetryCount": 2}
    finally:
        ctr.remove(force=True)


def test_docker_update_cli(client, daemon):
    ctr = run(client, mem_limit=64 * MB, name="dy-update-cli")
    try:
        until(lambda: ctr.reload() or ctr.status == "running", 20, "the container to run")
        out = docker_cli(daemon, "update", "--memory", "48m", "--memory-swap", "96m", "--cpu-shares", "300",
                         "--pids-limit", "40", "--cpus", "0.5", "--restart", "on-failure:3", "dy-update-cli")
        assert out.returncode == 0, out.stderr
        assert out.stdout.decode().strip() == "dy-update-cli"
        assert memory_limit(daemon, ctr.id) == 48 * MB and pids_max(daemon, ctr.id) == "40"
        assert cpu_shares(daemon, ctr.id) == weight_of(300) and cfs(daemon, ctr.id) == ("50000", 100000)
        host = client.api.inspect_container(ctr.id)["HostConfig"]
        assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
        assert (host["Memory"], host["MemorySwap"], host["NanoCpus"]) == (48 * MB, 96 * MB, 500_000_000)
        # The CLI's refusal, in dockerd's words.
        out = docker_cli(daemon, "update", "--memory", "1m", "dy-update-cli")
        assert out.returncode != 0 and b"Minimum memory limit allowed is 6MB" in out.stderr
    finally:
        ctr.remove(force=True)


def test_update_refusals(client, daemon):
    ctr = run(client, mem_limit=64 * MB, cpu_quota=50000)
    rm = run(client, auto_remove=True)
    try:
        for body, status, words in [
            ({"Memory": 1 * MB}, 400, "Minimum memory limit allowed is 6MB"),
            ({"Memory": 64 * MB, "MemorySwap": 32 * MB}, 400, "Minimum memoryswap limit should be larger"),
            ({"NanoCpus": 10**9, "CpuPeriod": 100000}, 400, "Nano CPUs and CPU Period cannot both be set"),
            ({"CpusetCpus": "1023"}, 400, "Requested CPUs are not available"),
            ({"CpuQuota": 10}, 400, "CPU cfs quota can not be less than 1ms"),
            ({"RestartPolicy": {"Name": "sometimes"}}, 400, "invalid restart policy: unknown policy 'sometimes'"),
            ({"RestartPolicy": {"Name": "always", "MaximumRetryCount": 3}}, 400,
             "maximum retry count can only be used with 'on-failure'"),
            ({"Memory": "lots"}, 400, "Memory must be an integer"),
            ([1, 2], 400, "must be a JSON object"),
            # The container's own settings stand in the way: dockerd's 409s.
            ({"NanoCpus": 10**9}, 409, "Nano CPUs cannot be updated as CPU Quota has already been set"),
        ] + ([({"Memory": 256 * MB}, 409, "Memory limit should be smaller than already set memoryswap limit")]
             if SWAP else []) + (
            [({"MemorySwappiness": 200}, 400, "valid memory swappiness range is 0-100")] if SWAPPINESS else []):
            r = api(daemon, "POST", f"/v1.45/containers/{ctr.id}/update", body)
            assert r.status == status, (body, r.body)
            assert words in r.json()["message"], (body, r.json())
        r = api(daemon, "POST", f"/v1.45/containers/{rm.id}/update", {"RestartPolicy": {"Name": "always"}})
        assert r.status == 409 and "Restart policy cannot be updated because AutoRemove is enabled" in r.json()[
            "message"]
        assert api(daemon, "POST", "/v1.45/containers/no-such-box/update", {"Memory": 64 * MB}).status == 404
        # Nothing of a refused update was kept.
        host = client.api.inspect_container(ctr.id)["HostConfig"]
        assert (host["Memory"], host["NanoCpus"], host["RestartPolicy"]["Name"]) == (64 * MB, 0, "no")
        assert memory_limit(daemon, ctr.id) == 64 * MB
    finally:
        ctr.remove(force=True)
        rm.remove(force=True)


def test_a_memory_limit_below_what_it_uses(client, daemon):
    # 24 MiB in /dev/shm: without swap the kernel cannot reclaim them.
    ctr = run(client, cmd=["sh", "-c", "dd if=/dev/zero of=/dev/shm/f bs=1M count=24 && echo filled; exec top"],
              mem_limit=64 * MB, memswap_limit=64 * MB if SWAP else None)
    try:
        until(lambda: b"filled" in ctr.logs(), 20, "the container to fill its /dev/shm")
        r = api(daemon, "POST", f"/v1.45/containers/{ctr.id}/update", {"Memory": 8 * MB, "MemorySwap": 8 * MB})
        if V2:   # the kernel takes it and kills what does not fit, as under dockerd
            until(lambda: client.api.inspect_container(ctr.id)["State"]["OOMKilled"], 20, "the OOM kill")
            return
        assert r.status == 400 and f"Cannot update container {ctr.id}" in r.json()["message"], r.body
        assert memory_limit(daemon, ctr.id) == 64 * MB
        assert client.api.inspect_container(ctr.id)["HostConfig"]["Memory"] == 64 * MB
    finally:
        ctr.remove(force=True)


def test_update_survives_a_restart_of_every_service(fresh_daemon):
    d = fresh_daemon.start()
    ensure_busybox(d)
    client = docker.DockerClient(base_url=d.unix_url, version="1.45")
    try:
        ctr = run(client, mem_limit=64 * MB)
        until(lambda: ctr.reload() or ctr.status == "running", 20, "the container to run")
        client.api.update_container(ctr.id, mem_limit=48 * MB, memswap_limit=96 * MB, cpu_shares=300,
                                    restart_policy={"Name": "unless-stopped"})
        for service in ("api", "supervisor", "builder", "registry"):
            old = d.pid(service)
            d.supervisorctl("restart", service)
            d.wait_new_pid(service, old)
        until(lambda: client.api.inspect_container(ctr.id)["State"]["Running"], 30, "the supervisor to answer")
        host = client.api.inspect_container(ctr.id)["HostConfig"]
        assert (host["Memory"], host["MemorySwap"], host["CpuShares"], host["RestartPolicy"]["Name"]) == (
            48 * MB, 96 * MB, 300, "unless-stopped")
        assert memory_limit(d, ctr.id) == 48 * MB
        ctr.restart(timeout=1)   # its next start's bundle is made from the record
        assert memory_limit(d, ctr.id) == 48 * MB and cpu_shares(d, ctr.id) == weight_of(300)
        ctr.remove(force=True)
    finally:
        client.close()


def test_an_updated_restart_policy_is_the_one_its_exits_follow(client, daemon):
    ctr = client.containers.create("busybox", ["false"], restart_policy={"Name": "on-failure", "MaximumRetryCount": 1})
    try:
        r = api(daemon, "POST", f"/v1.45/containers/{ctr.id}/update",
                {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}})
        assert r.status == 200, r.body
        ctr.start()

        def gave_up():
            state = client.api.inspect_container(ctr.id)
            return state["State"]["Status"] == "exited" and state["RestartCount"] == 3
        until(gave_up, 30, "the third and last restart")
        assert client.api.inspect_container(ctr.id)["HostConfig"]["RestartPolicy"]["MaximumRetryCount"] == 3
    finally:
        ctr.remove(force=True)
