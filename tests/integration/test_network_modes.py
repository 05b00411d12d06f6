"""Network modes on the started daemon, under both runtimes: `none` (only loopback), `host`
(the host's namespace, name and hosts file), `container:<id>` (another container's
namespace and files); a network or container that is not there fails the start."""

from __future__ import annotations

import os
import socket

import pytest

from .containers import create, inspect, remove, start, wait

RUNTIMES = ["builtin", "runc"]


def output(daemon, cid: str) -> str:
    return daemon.request("POST", f"/containers/{cid}/attach?logs=1&stdout=1&stderr=1").body.decode()


def ran(daemon, cmd: list[str], mode: str, runtime: str) -> tuple[int, str]:
    cid = create(daemon, "/v1.45", Cmd=cmd, HostConfig={"NetworkMode": mode, "Runtime": runtime})
    try:
        start(daemon, cid)
        return wait(daemon, cid), output(daemon, cid)
    finally:
        remove(daemon, cid)


def interfaces(text: str) -> set[str]:
    return {line.split(":")[0].strip() for line in text.splitlines()[2:] if ":" in line}


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_none_has_only_loopback(client, daemon, runtime):
    code, out = ran(daemon, ["cat", "/proc/net/dev"], "none", runtime)
    assert code == 0 and interfaces(out) == {"lo"}


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_host_sees_the_hosts_interfaces_name_and_hosts_file(client, daemon, runtime):
    with open("/proc/net/dev") as fh:
        host_links = interfaces(fh.read())
    code, out = ran(daemon, ["sh", "-c", "cat /proc/net/dev; echo; hostname; echo; cat /etc/hosts"], "host", runtime)
    assert code == 0, out
    links, name, hosts = out.split("\n\n", 2)
    assert interfaces(links + "\n") == host_links and len(host_links) > 1
    assert name.strip() == socket.gethostname()
    with open("/etc/hosts") as fh:
        assert hosts.startswith(fh.read().rstrip("\n"))


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_container_mode_shares_the_other_containers_namespace(client, daemon, runtime):
    first = create(daemon, "/v1.45", Cmd=["sleep", "60"], HostConfig={"Runtime": runtime})
    start(daemon, first)
    try:
        ns = os.readlink(f"/proc/{inspect(daemon, first)['State']['Pid']}/ns/net")
        code, out = ran(daemon, ["sh", "-c", "readlink /proc/self/ns/net; cat /etc/hostname"],
                        f"container:{first[:12]}", runtime)
        assert code == 0 and out.split() == [ns, first[:12]], out
    finally:
        remove(daemon, first)


def test_a_missing_network_or_container_fails_the_start(client, daemon):
    stopped = create(daemon, "/v1.45", Cmd=["true"])
    try:
        for mode, status, words in (("nosuchnet", 404, "network nosuchnet not found"),
                                    ("container:nosuch", 404, "No such container: nosuch"),
                                    (f"container:{stopped}", 409, "cannot join network of a non running container")):
            cid = create(daemon, "/v1.45", Cmd=["true"], HostConfig={"NetworkMode": mode})
            r = daemon.request("POST", f"/v1.45/containers/{cid}/start")
            assert r.status == status and words in r.json()["message"], (mode, r.status, r.body)
            assert inspect(daemon, cid)["State"]["Status"] == "created"
            remove(daemon, cid)
        r = daemon.request("POST", "/v1.45/containers/create", headers={"Content-Type": "application/json"},
                           body=b'{"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "container:"}}')
        assert r.status == 400 and "names no container" in r.json()["message"]
    finally:
        remove(daemon, stopped)
