"""HostConfig's settings other than resources, as inspect shows them and as the container lives
them: each checked from inside the container, under both runtimes where they differ."""

from __future__ import annotations

import json
import os
import re
import socket
import uuid

import docker
import pytest

from ..polling import until
from .containers import docker as docker_cli
from .create_fields import FIELDS

RUNTIMES = ("builtin", "runc")
# Docker leaves these out of inspect when unset (omitempty in its Go structs).
HOST_CONFIG_OMITTED = {"Annotations", "StorageOpt", "Tmpfs", "Sysctls", "Mounts", "Init", "KernelMemory",
                       "KernelMemoryTCP"}
CONFIG_OMITTED = {"Healthcheck", "ArgsEscaped", "NetworkDisabled", "MacAddress", "StopSignal", "StopTimeout",
                  "Shell", "ExposedPorts"}
V1_0_CONFIG = {"Memory", "MemorySwap", "CpuShares", "PortSpecs", "Dns", "VolumesFrom"}   # not Docker's any more
DOCKER_MASKED = ["/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
                 "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                 "/sys/firmware", "/sys/devices/virtual/powercap"]
# The spec's ContainerConfig and HostConfig fields, from the table written out of it (create_fields).
SPEC_CONFIG = {path for path, _ in FIELDS if re.fullmatch(r"\w+", path)} - V1_0_CONFIG - {"NetworkingConfig"}
SPEC_HOST_CONFIG = {path.split(".")[1] for path, _ in FIELDS if re.fullmatch(r"HostConfig\.\w+", path)}


def run(client, cmd: str, runtime: str = "builtin", **kw) -> tuple[int, str]:
    """The exit code and output (stdout and stderr, in order) of `sh -c cmd` in a new container."""
    ctr = client.containers.create("busybox", ["sh", "-c", f"({cmd}) 2>&1"], runtime=runtime, **kw)
    try:
        ctr.start()
        code = ctr.wait(timeout=60)["StatusCode"]
        return code, ctr.logs().decode()
    finally:
        ctr.remove(force=True)


def create_raw(client, host: dict, cmd: list[str] | None = None, **config) -> dict:
    """POST /containers/create with this HostConfig (settings docker-py has no argument for):
    its Id and Warnings."""
    body = {"Image": "busybox", "Cmd": cmd or ["true"], **config, "HostConfig": host}
    return client.api._result(client.api._post_json(client.api._url("/containers/create"), data=body), True)


def host_ns(kind: str) -> str:
    return os.readlink(f"/proc/self/ns/{kind}")


def refused(client, status: int = 400, **kw) -> str:
    with pytest.raises(docker.errors.APIError) as exc:
        ctr = client.containers.create("busybox", "true", **kw)
        try:
            ctr.start()
        finally:
            ctr.remove(force=True)
    assert exc.value.status_code == status, exc.value
    return str(exc.value.explanation)


# ------------------------------------------------------------------- inspect


def test_inspect_shows_every_field_the_spec_has_at_dockers_defaults(client):
    ctr = client.containers.create("busybox", "true")
    try:
        host, config = ctr.attrs["HostConfig"], ctr.attrs["Config"]
    finally:
        ctr.remove()
    assert {"CgroupnsMode", "MaskedPaths", "NanoCpus", "Init"} <= SPEC_HOST_CONFIG and "StopTimeout" in SPEC_CONFIG
    missing = sorted(SPEC_HOST_CONFIG - HOST_CONFIG_OMITTED - set(host))
    assert not missing, missing
    assert SPEC_CONFIG - CONFIG_OMITTED <= set(config), sorted(SPEC_CONFIG - CONFIG_OMITTED - set(config))
    assert not (HOST_CONFIG_OMITTED & set(host)), HOST_CONFIG_OMITTED & set(host)
    cgroupns = "private" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "host"
    expected = {
        "CgroupnsMode": cgroupns, "IpcMode": "private", "PidMode": "", "UTSMode": "", "UsernsMode": "",
        "Cgroup": "", "Isolation": "", "ConsoleSize": [0, 0], "VolumeDriver": "", "ContainerIDFile": "",
        "GroupAdd": None, "ShmSize": 64 << 20, "OomScoreAdj": 0, "MemorySwappiness": None, "OomKillDisable": False,
        "PidsLimit": None, "Ulimits": None, "NanoCpus": 0, "CpusetMems": "", "BlkioWeight": 0,
        "DeviceRequests": None, "CpuRealtimePeriod": 0, "IOMaximumIOps": 0, "MaskedPaths": DOCKER_MASKED,
        "ReadonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    }
    assert {k: host[k] for k in expected} == expected


def test_inspect_returns_each_setting_as_given(client):
    tmpfs = {"/run/t": "rw,size=3m"}
    ctr = client.containers.create(
        "busybox", "true", init=True, isolation="default", volume_driver="foo", cgroupns="private",
        uts_mode="host", pid_mode="host", ipc_mode="shareable", group_add=["1000", "nogroup"], tmpfs=tmpfs,
        sysctls={"net.core.somaxconn": "1024"}, ulimits=[docker.types.Ulimit(name="nofile", soft=1024, hard=2048)],
        runtime="runc")
    try:
        host, config = ctr.attrs["HostConfig"], ctr.attrs["Config"]
    finally:
        ctr.remove()
    assert (host["Init"], host["Isolation"], host["VolumeDriver"], host["CgroupnsMode"]) == (True, "default", "foo",
                                                                                            "private")
    assert (host["UTSMode"], host["PidMode"], host["IpcMode"], host["Runtime"]) == ("host", "host", "shareable", "runc")
    assert host["GroupAdd"] == ["1000", "nogroup"] and host["Tmpfs"] == tmpfs
    assert host["Sysctls"] == {"net.core.somaxconn": "1024"}
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]
    assert config["Hostname"] == socket.gethostname()


def test_config_fields_shown_only_when_set(client):
    for given, shown in ((25, 25), (0, 0)):
        cid = create_raw(client, {}, StopTimeout=given, Shell=["/bin/sh", "-e"])["Id"]
        try:
            config = client.api.inspect_container(cid)["Config"]
            assert (config["StopTimeout"], config["Shell"]) == (shown, ["/bin/sh", "-e"])
        finally:
            client.api.remove_container(cid)
    cid = create_raw(client, {})["Id"]
    try:
        config = client.api.inspect_container(cid)["Config"]
        assert not {"StopTimeout", "Shell", "ArgsEscaped", "NetworkDisabled", "Healthcheck"} & set(config), config
    finally:
        client.api.remove_container(cid)


def test_privileged_has_no_masked_paths_in_inspect(client):
    ctr = client.containers.create("busybox", "true", privileged=True)
    try:
        assert (ctr.attrs["HostConfig"]["MaskedPaths"], ctr.attrs["HostConfig"]["ReadonlyPaths"]) == (None, None)
    finally:
        ctr.remove()


@pytest.mark.parametrize("kw, words", [
    ({"isolation": "hyperv"}, "only supports 'default'"),
    ({"ipc_mode": "sideways"}, "invalid IPC mode: sideways"),
    ({"pid_mode": "nope"}, "invalid PID mode: nope"),
    ({"cgroupns": "shared"}, "invalid cgroup namespace mode: shared"),
    ({"uts_mode": "host", "hostname": "mine"}, "conflicting options: hostname and the UTS mode"),
    ({"storage_opt": {"size": "1G"}}, "storage-opt"),
    ({"sysctls": {"vm.swappiness": "1"}}, "not in a separate kernel namespace"),
    ({"sysctls": {"net.ipv4.ip_forward": "1"}, "network_mode": "host"}, "not allowed in host network namespace"),
    ({"sysctls": {"kernel.shmmax": "1"}, "ipc_mode": "host"}, "hosts ipc namespace"),
    ({"ulimits": [docker.types.Ulimit(name="nofiles", soft=1, hard=1)]}, "invalid ulimit type: nofiles"),
    ({"ulimits": [docker.types.Ulimit(name="nofile", soft=10, hard=5)]}, "soft limit must be less than"),
    ({"tmpfs": {"/t": "size=1m,bogus=1"}}, "Invalid tmpfs option"),
    ({"tmpfs": {"relative": ""}}, "must be absolute"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_settings_the_host_cannot_honour_are_refused_at_create(client, kw, words):
    assert words in refused(client, **kw)


@pytest.mark.parametrize("host, words", [
    ({"Annotations": {"org.dockyard.user": "root"}}, "reserved"),
    ({"DeviceRequests": [{"Driver": "", "Count": -1, "Capabilities": [["gpu"]]}]}, "could not select device driver"),
    ({"UsernsMode": "private"}, "invalid USER mode"),
    ({"UTSMode": "container:x"}, "invalid UTS mode: container:x"),
    ({"IOMaximumIOps": 5}, "Invalid QoS settings"),
])
def test_more_settings_refused_at_create(client, host, words):
    with pytest.raises(docker.errors.APIError) as exc:
        create_raw(client, host)
    assert exc.value.status_code == 400 and words in str(exc.value.explanation)


def test_a_cgroup_of_another_container_is_a_warning(client):
    result = create_raw(client, {"Cgroup": "container:someone"})
    try:
        assert any("Cgroup" in w for w in result["Warnings"]), result
    finally:
        client.api.remove_container(result["Id"])


# ------------------------------------------------------- from inside: identity


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_group_add_names_and_numbers(client, runtime):
    code, out = run(client, "id -G", runtime, group_add=["1000", "nogroup", "0"])
    assert code == 0 and set(out.split()) == {"0", "1000", "65534"}, out
    code, out = run(client, "id -G", runtime, user="nobody", group_add=["4242"])
    assert code == 0 and set(out.split()) == {"65534", "4242"}, out
    with pytest.raises(docker.errors.APIError) as exc:
        run(client, "id -G", runtime, group_add=["no-such-group"])
    assert "Unable to find group no-such-group" in str(exc.value.explanation)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_group_add_reaches_exec_too(client, runtime):
    ctr = client.containers.run("busybox", "cat", stdin_open=True, detach=True, runtime=runtime, group_add=["777"])
    try:
        code, out = ctr.exec_run("id -G")
        assert code == 0 and "777" in out.decode().split(), out
    finally:
        ctr.remove(force=True)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_ulimits(client, runtime):
    ulimits = [docker.types.Ulimit(name="nofile", soft=1000, hard=2000),
               docker.types.Ulimit(name="core", soft=-1, hard=-1)]
    code, out = run(client, "grep -E 'Max (open files|core file size)' /proc/self/limits", runtime, ulimits=ulimits,
                    user="nobody")
    rows = {line[:26].strip(): line[26:].split()[:2] for line in out.splitlines()}
    assert code == 0 and rows == {"Max core file size": ["unlimited", "unlimited"],
                                  "Max open files": ["1000", "2000"]}, out


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_init_runs_as_pid_1_before_the_command(client, runtime):
    code, out = run(client, "cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $$", runtime, init=True)
    first, me = out.splitlines()
    assert code == 0 and first.startswith("/sbin/docker-init -- sh -c") and me != "1", out
    code, out = run(client, "echo $$", runtime)
    assert out.strip() == "1"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_init_forwards_signals_and_passes_the_exit_code(client, runtime):
    # As pid 1, cat would ignore a SIGTERM it has no handler for; under docker-init it dies of it.
    ctr = client.containers.run("busybox", "cat", stdin_open=True, detach=True, runtime=runtime, init=True)
    try:
        until(lambda: ctr.exec_run("cat /proc/1/comm").output == b"docker-init\n", 20, "docker-init as pid 1")
        ctr.kill("TERM")
        assert ctr.wait(timeout=30)["StatusCode"] == 143
    finally:
        ctr.remove(force=True)
    assert run(client, "exit 6", runtime, init=True)[0] == 6


# ----------------------------------------------------------- namespaces


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_pid_uts_cgroup_namespaces_of_the_host(client, runtime):
    cmd = "for k in pid uts cgroup; do readlink /proc/self/ns/$k; done; hostname"
    code, out = run(client, cmd, runtime, pid_mode="host", uts_mode="host", cgroupns="host", network_mode="none")
    assert code == 0 and out.split() == [host_ns("pid"), host_ns("uts"), host_ns("cgroup"), socket.gethostname()]
    code, out = run(client, cmd, runtime, cgroupns="private", hostname="own")
    pid, uts, cgroup, name = out.split()
    assert (pid != host_ns("pid"), uts != host_ns("uts"), cgroup != host_ns("cgroup"), name) == (True, True, True,
                                                                                                "own")
    assert socket.gethostname() != "own"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_private_cgroup_namespace_is_rooted_at_the_container(client, runtime):
    code, out = run(client, "cat /proc/self/cgroup", runtime, cgroupns="private")
    assert code == 0 and out.strip() and all(line.endswith(":/") for line in out.splitlines()), out
    ctr = client.containers.run("busybox", "cat", stdin_open=True, detach=True, runtime=runtime, cgroupns="private")
    try:   # an exec'd process is in it too
        code, out = ctr.exec_run("cat /proc/self/cgroup")
        assert code == 0 and all(line.endswith(":/") for line in out.decode().splitlines()), out
    finally:
        ctr.remove(force=True)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_pid_namespace_of_another_container(client, runtime):
    donor = client.containers.run("busybox", "cat", stdin_open=True, detach=True, runtime=runtime)
    try:
        code, out = run(client, "readlink /proc/self/ns/pid; cat /proc/1/cmdline", runtime,
                        pid_mode=f"container:{donor.id}")
        ns, cmdline = out.split("\n", 1)
        assert code == 0 and cmdline.startswith("cat") and ns != host_ns("pid"), out
        code, mine = donor.exec_run("readlink /proc/self/ns/pid")
        assert mine.decode().strip() == ns
    finally:
        donor.remove(force=True)
    stopped = client.containers.create("busybox", "true")
    try:
        with pytest.raises(docker.errors.APIError) as exc:
            run(client, "true", runtime, pid_mode=f"container:{stopped.id}")
        assert exc.value.status_code == 409 and "is not running" in str(exc.value.explanation)
    finally:
        stopped.remove()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_ipc_shareable_and_joined(client, runtime):
    donor = client.containers.run("busybox", ["sh", "-c", "echo from-donor > /dev/shm/note; exec cat"],
                                  stdin_open=True, detach=True, runtime=runtime, ipc_mode="shareable")
    try:
        until(lambda: donor.exec_run("cat /dev/shm/note").output == b"from-donor\n", 20, "the donor's note")
        code, out = run(client, "readlink /proc/self/ns/ipc; cat /dev/shm/note; echo back > /dev/shm/reply", runtime,
                        ipc_mode=f"container:{donor.id}")
        ns, note = out.split()
        assert code == 0 and note == "from-donor", out
        assert donor.exec_run("readlink /proc/self/ns/ipc").output.decode().strip() == ns != host_ns("ipc")
        assert donor.exec_run("cat /dev/shm/reply").output == b"back\n"
    finally:
        donor.remove(force=True)


def test_ipc_of_a_private_container_cannot_be_joined(client):
    donor = client.containers.run("busybox", "cat", stdin_open=True, detach=True)
    try:
        with pytest.raises(docker.errors.APIError) as exc:
            run(client, "true", ipc_mode=f"container:{donor.id}")
        assert exc.value.status_code == 400 and "non-shareable IPC" in str(exc.value.explanation)
    finally:
        donor.remove(force=True)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_ipc_host_and_none(client, runtime):
    name = f"dockyard-test-{uuid.uuid4().hex[:8]}"
    with open(f"/dev/shm/{name}", "w") as fh:
        fh.write("host\n")
    try:
        code, out = run(client, f"readlink /proc/self/ns/ipc; cat /dev/shm/{name}", runtime, ipc_mode="host")
        assert code == 0 and out.split() == [host_ns("ipc"), "host"], out
    finally:
        os.unlink(f"/dev/shm/{name}")
    code, out = run(client, "grep -c ' /dev/shm ' /proc/mounts", runtime, ipc_mode="none")
    assert out.strip() == "0", out


# -------------------------------------------------------- kernel settings


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_sysctls_and_dockers_default_ones(client, runtime):
    cmd = ("cat /proc/sys/net/core/somaxconn /proc/sys/kernel/shmmni /proc/sys/net/ipv4/ip_unprivileged_port_start"
           " /proc/sys/net/ipv4/ping_group_range")
    code, out = run(client, cmd, runtime, sysctls={"net.core.somaxconn": "555", "kernel.shmmni": "999"})
    assert code == 0 and out.split() == ["555", "999", "0", "0", "2147483647"], out


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_tmpfs_with_its_options(client, runtime):
    code, out = run(client, "grep -E ' /(run/t|scratch) ' /proc/mounts", runtime,
                    tmpfs={"/run/t": "rw,exec,size=3m,mode=1770", "/scratch": ""})
    lines = sorted(out.splitlines())
    t = next(line for line in lines if " /run/t " in line).split()[3].split(",")
    scratch = next(line for line in lines if " /scratch " in line).split()[3].split(",")
    assert code == 0 and {"rw", "nosuid", "nodev", "size=3072k", "mode=1770"} <= set(t) and "noexec" not in t, out
    assert {"noexec", "nosuid", "nodev"} <= set(scratch), out


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_shm_size(client, runtime):
    code, out = run(client, "grep ' /dev/shm ' /proc/mounts", runtime, shm_size="16m")
    assert code == 0 and "size=16384k" in out, out


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_privileged_sys_is_writable_and_nothing_masked(client, runtime):
    cmd = "grep ' /sys ' /proc/mounts; grep -c ' /proc/keys ' /proc/mounts; true"
    code, out = run(client, cmd, runtime, privileged=True)
    sys_line, masked = out.splitlines()
    assert code == 0 and sys_line.split()[3].startswith("rw,") and masked == "0", out
    code, out = run(client, cmd, runtime)
    sys_line, masked = out.splitlines()
    assert sys_line.split()[3].startswith("ro,") and masked == "1", out


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_masked_and_read_only_paths_of_the_client(client, runtime):
    cid = create_raw(client, {"Runtime": runtime, "MaskedPaths": ["/etc/hostname"], "ReadonlyPaths": ["/home"]},
                     ["sh", "-c", "(cat /etc/hostname | wc -c; touch /home/x) 2>&1"])["Id"]
    try:
        client.api.start(cid)
        assert client.api.wait(cid)["StatusCode"] == 1
        out = client.api.logs(cid).decode()
        assert out.splitlines()[0].strip() == "0" and "Read-only file system" in out, out
    finally:
        client.api.remove_container(cid, force=True)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_console_size(client, runtime):
    cid = create_raw(client, {"Runtime": runtime, "ConsoleSize": [30, 100]}, ["stty", "size"], Tty=True)["Id"]
    try:
        client.api.start(cid)
        assert client.api.wait(cid)["StatusCode"] == 0
        assert client.api.logs(cid) == b"30 100\r\n"
    finally:
        client.api.remove_container(cid, force=True)


def test_annotations_reach_the_bundle(daemon, client):
    cid = create_raw(client, {"Annotations": {"com.example.team": "a"}})["Id"]
    try:
        client.api.start(cid)
        client.api.wait(cid)
        with open(os.path.join(daemon.data_root, "containers", cid, "config.json")) as fh:
            assert json.load(fh)["annotations"]["com.example.team"] == "a"
        assert client.api.inspect_container(cid)["HostConfig"]["Annotations"] == {"com.example.team": "a"}
    finally:
        client.api.remove_container(cid, force=True)


def test_a_container_waiting_to_restart_is_not_removed_without_force(client):
    ctr = client.containers.run("busybox", "true", detach=True, restart_policy={"Name": "always"},
                                network_mode="none")
    try:
        ctr.wait(timeout=30)   # its exit: from then on it runs again or waits to
        with pytest.raises(docker.errors.APIError) as exc:
            ctr.remove()
        assert exc.value.status_code == 409 and "Stop the container before attempting removal" in \
            str(exc.value.explanation)
    finally:
        ctr.remove(force=True)


def test_the_docker_cli_flags(daemon, client):
    script = ("cat /proc/1/comm; id -G; grep 'Max open files' /proc/self/limits; grep ' /t ' /proc/mounts; "
              "cat /proc/sys/net/core/somaxconn; hostname")
    out = docker_cli(daemon, "run", "--rm", "--init", "--group-add", "4242", "--ulimit", "nofile=100:200",
                     "--tmpfs", "/t:size=1m", "--sysctl", "net.core.somaxconn=77", "--uts", "host", "--cgroupns",
                     "private", "--read-only", "busybox", "sh", "-c", script)
    assert out.returncode == 0, out
    comm, groups, limits, tmpfs, somaxconn, hostname = out.stdout.decode().splitlines()
    assert (comm, somaxconn, hostname) == ("docker-init", "77", socket.gethostname())
    assert "4242" in groups.split() and limits.split()[3:5] == ["100", "200"] and "size=1024k" in tmpfs
