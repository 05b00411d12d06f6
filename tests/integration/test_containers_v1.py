"""The v1.0 container endpoints (spec 2.1, 3.1) with raw HTTP on unprefixed paths."""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
import urllib.parse
from pathlib import Path

import pytest

from ..polling import until
from . import create_fields
from .containers import Attached, create, ensure_busybox, inspect, remove, run, start, wait


@pytest.fixture(scope="module", autouse=True)
def busybox(daemon):
    return ensure_busybox(daemon)


def test_create_answers_201_with_a_short_id(daemon):
    r = daemon.request("POST", "/containers/create", body=json.dumps({
        "Hostname": "", "User": "", "Memory": 0, "MemorySwap": 0, "AttachStdin": False,
        "AttachStdout": True, "AttachStderr": True, "PortSpecs": None, "Tty": False,
        "OpenStdin": False, "StdinOnce": False, "Env": None, "Cmd": ["date"], "Dns": None,
        "Image": "busybox", "Volumes": {}, "VolumesFrom": ""}).encode(),
        headers={"Content-Type": "application/json"})
    assert r.status == 201
    body = r.json()
    assert len(body["Id"]) == 12 and body["Warnings"] == []
    remove(daemon, body["Id"])


def test_create_errors(daemon):
    def post(body: bytes):
        return daemon.request("POST", "/containers/create", body=body, headers={"Content-Type": "application/json"})
    r = post(json.dumps({"Image": "nosuchimage", "Cmd": ["true"]}).encode())
    assert r.status == 404 and "No such image: nosuchimage" in r.json()["message"]
    assert post(b"{not json").status == 400
    assert post(b"[1, 2]").status == 400
    assert post(json.dumps({"Cmd": ["true"]}).encode()).status == 400
    r = post(json.dumps({"Image": "busybox", "Cmd": ["true"], "Memory": 1000}).encode())
    assert r.status == 400 and "6MB" in r.json()["message"]
    for key, value in (("Memory", "abc"), ("MemorySwap", [1]), ("CpuShares", "x"), ("Memory", True)):
        r = post(json.dumps({"Image": "busybox", "Cmd": ["true"], key: value}).encode())
        assert r.status == 400 and f"{key} must be an integer" in r.json()["message"], (key, r.body)
    for host, word in (({"PidsLimit": "5"}, "PidsLimit"), ({"SecurityOpt": "seccomp=unconfined"}, "SecurityOpt"),
                       ({"RestartPolicy": "always"}, "RestartPolicy")):
        r = daemon.request("POST", "/v1.45/containers/create", body=json.dumps(
            {"Image": "busybox", "Cmd": ["true"], "HostConfig": host}).encode(),
            headers={"Content-Type": "application/json"})
        assert r.status == 400 and word in r.json()["message"], (host, r.body)
    r = daemon.request("POST", "/containers/create?name=bad/name", body=json.dumps(
        {"Image": "busybox", "Cmd": ["true"]}).encode(), headers={"Content-Type": "application/json"})
    assert r.status == 400


def test_exit_codes_come_back_through_wait(daemon):
    for code in (0, 1, 42):
        cid, got, _ = run(daemon, ["sh", "-c", f"exit {code}"])
        assert got == code
        assert inspect(daemon, cid, prefix="")["State"]["ExitCode"] == code
        remove(daemon, cid)


def test_echo_comes_back_through_attach_logs(daemon):
    cid, code, out = run(daemon, ["sh", "-c", "echo hello; echo oops >&2"])
    assert code == 0 and out == b"hello\noops\n"
    only_out = daemon.request("POST", f"/containers/{cid}/attach?logs=1&stdout=1").body
    assert only_out == b"hello\n"
    only_err = daemon.request("POST", f"/containers/{cid}/attach?logs=1&stderr=1").body
    assert only_err == b"oops\n"
    remove(daemon, cid)


def test_interactive_attach_round_trips_stdin(daemon):
    cid = create(daemon, Cmd=["cat"], OpenStdin=True, StdinOnce=True, AttachStdin=True)
    start(daemon, cid)
    a = Attached(daemon, cid, "stream=1&stdin=1&stdout=1")
    assert a.status == 200 and "application/vnd.docker.raw-stream" in a.head
    a.send(b"hello through cat\n")
    assert a.read_until(b"hello through cat\n") == b"hello through cat\n"
    a.send(b"second line\n")
    a.read_until(b"second line\n")
    a.close_stdin()  # cat sees the end of its input, and exits
    assert a.read_all() == b"hello through cat\nsecond line\n"
    a.close()
    assert wait(daemon, cid) == 0
    remove(daemon, cid)


def test_stop_sleep_and_a_shell_that_ignores_sigterm(daemon):
    for cmd in (["sleep", "100"], ["sh", "-c", "trap '' TERM; sleep 100 & wait; sleep 100"]):
        cid = create(daemon, Cmd=cmd)
        start(daemon, cid)
        began = time.monotonic()
        r = daemon.request("POST", f"/containers/{cid}/stop?t=1")
        took = time.monotonic() - began
        assert r.status == 204
        assert took < 1 + 1, took  # t, then SIGKILL: within t plus a second
        state = inspect(daemon, cid, prefix="")["State"]
        assert state["Running"] is False and state["ExitCode"] in (137, 143)
        assert daemon.request("POST", f"/containers/{cid}/stop?t=1").status == 304
        remove(daemon, cid)


def test_start_twice_kill_restart(daemon):
    cid = create(daemon, Cmd=["sleep", "100"])
    start(daemon, cid)
    assert daemon.request("POST", f"/containers/{cid}/start").status == 304
    first = inspect(daemon, cid)["State"]
    r = daemon.request("POST", f"/containers/{cid}/restart?t=1")
    assert r.status == 204
    second = inspect(daemon, cid)["State"]
    assert second["Running"] and second["StartedAt"] > first["StartedAt"] and second["Pid"] != first["Pid"]
    assert daemon.request("POST", f"/containers/{cid}/kill").status == 204
    assert wait(daemon, cid) == 137
    assert daemon.request("POST", f"/containers/{cid}/kill").status == 409
    remove(daemon, cid)


def test_inspect_v1_keys(daemon, busybox):
    cid = create(daemon, Cmd=["echo", "a", "b"])
    info = inspect(daemon, cid, prefix="")
    assert len(info["Id"]) == 64 and info["Id"].startswith(cid)
    assert info["Path"] == "echo" and info["Args"] == ["a", "b"]
    assert info["Image"] == busybox and info["Config"]["Cmd"] == ["echo", "a", "b"]
    for key in ("Running", "Pid", "ExitCode", "StartedAt", "Ghost"):
        assert key in info["State"]
    for key in ("IpAddress", "IpPrefixLen", "Gateway", "Bridge", "PortMapping"):
        assert key in info["NetworkSettings"]
    assert "SysInitPath" in info and "ResolvConfPath" in info and info["Volumes"] == {}
    assert info["Config"]["Hostname"] == cid
    assert daemon.get("/containers/nosuch/json").status == 404
    remove(daemon, cid)


def test_changes_and_export(daemon):
    cid, code, _ = run(daemon, ["sh", "-c", "echo new > /newfile; rm /etc/group; mkdir -p /tmp/d"])
    assert code == 0
    r = daemon.get(f"/containers/{cid}/changes")
    assert r.status == 200
    found = {c["Path"]: c["Kind"] for c in r.json()}
    assert found["/newfile"] == 1
    assert found["/etc/group"] == 2
    assert found["/etc"] == 0
    assert found["/tmp/d"] == 1
    r = daemon.get(f"/containers/{cid}/export")
    assert r.status == 200
    names = set(tarfile.open(fileobj=io.BytesIO(r.body)).getnames())
    assert "newfile" in names and "bin/busybox" in names and "etc/passwd" in names
    assert "etc/group" not in names
    data = tarfile.open(fileobj=io.BytesIO(r.body)).extractfile("newfile").read()
    assert data == b"new\n"
    remove(daemon, cid)


def test_commit_then_run_the_new_image(daemon):
    cid, code, _ = run(daemon, ["sh", "-c", "echo hello world > /world"])
    r = daemon.request("POST", f"/commit?container={cid}&m=message&repo=myrepo&tag=v1&author=Tester",
                       body=json.dumps({"Cmd": ["cat", "/world"], "PortSpecs": ["22"]}).encode(),
                       headers={"Content-Type": "application/json"})
    assert r.status == 201, r.body
    image = r.json()["Id"]
    assert len(image) == 12
    info = daemon.get("/images/myrepo:v1/json").json()
    assert info["id"].startswith(image) and info["container"] == inspect(daemon, cid)["Id"]
    assert info["config"]["Cmd"] == ["cat", "/world"] and info["config"]["PortSpecs"] == ["22"]
    new = create(daemon, Image="myrepo:v1")
    start(daemon, new)
    assert wait(daemon, new) == 0
    assert daemon.request("POST", f"/containers/{new}/attach?logs=1&stdout=1").body == b"hello world\n"
    history = daemon.get("/v1.45/images/myrepo:v1/history").json()
    assert history[0]["CreatedBy"] == "sh -c echo hello world > /world"
    assert history[0]["Comment"] == "message"
    assert daemon.request("POST", "/commit?container=nosuch").status == 404
    # The image is in use: it cannot go while a container was made from it.
    r = daemon.request("DELETE", "/images/myrepo:v1")
    assert r.status == 409
    remove(daemon, new)
    remove(daemon, cid)
    assert daemon.request("DELETE", "/images/myrepo:v1").status == 204


def test_changes_leave_out_what_the_runtime_mounts(daemon):
    """As `docker diff`: the files and trees mounted into every container (Docker's init
    layer) are not the container's changes; what it did is, in Docker's walk order."""
    cid, code, _ = run(daemon, ["sh", "-c", "mkdir /foo; echo xyzzy > /foo/bar"])
    assert code == 0
    assert daemon.get(f"/containers/{cid}/changes").json() == [{"Path": "/foo", "Kind": 1},
                                                                {"Path": "/foo/bar", "Kind": 1}]
    remove(daemon, cid)
    cid, code, _ = run(daemon, ["touch", "/test"])
    assert daemon.get(f"/v1.45/containers/{cid}/changes").json() == [{"Path": "/test", "Kind": 1}]
    # The runtime made its mount points in the container's own layer: they are left out.
    upper = Path(daemon.data_root, "containers", inspect(daemon, cid)["Id"], "upper")
    assert (upper / "etc" / "hostname").exists()
    remove(daemon, cid)
    # A container's own writes under /etc are its changes, as in Docker.
    cid, code, _ = run(daemon, ["sh", "-c", "echo hi > /etc/motd"])
    assert daemon.get(f"/containers/{cid}/changes").json() == [{"Path": "/etc", "Kind": 0},
                                                                {"Path": "/etc/motd", "Kind": 1}]
    remove(daemon, cid)


def test_commit_keeps_message_author_and_changes(daemon):
    cid, code, _ = run(daemon, ["sh", "-c", "echo made > /made"])
    changes = "&".join("changes=" + urllib.parse.quote(c) for c in
                       ("EXPOSE 8000", 'CMD ["cat", "/made"]', "ENV GREETING=hi", "LABEL from=commit"))
    author = urllib.parse.quote("John Hannibal Smith <hannibal@a-team.com>")
    r = daemon.request("POST", f"/commit?container={cid}&m=a%20message&author={author}&repo=changed&tag=v1&{changes}")
    assert r.status == 201, r.body
    old = daemon.get("/images/changed:v1/json").json()
    assert old["comment"] == "a message" and old["author"] == "John Hannibal Smith <hannibal@a-team.com>"
    assert old["config"]["Cmd"] == ["cat", "/made"]
    new = daemon.get("/v1.45/images/changed:v1/json").json()
    assert new["Comment"] == "a message" and new["Author"] == "John Hannibal Smith <hannibal@a-team.com>"
    config = new["Config"]
    assert config["ExposedPorts"] == {"8000/tcp": {}} and config["Labels"] == {"from": "commit"}
    assert "GREETING=hi" in config["Env"] and config["Cmd"] == ["cat", "/made"]
    # The changed image runs as changed.
    made, code, out = run(daemon, None, Image="changed:v1")
    assert code == 0 and out == b"made\n"
    remove(daemon, made)
    # A refused change is Docker's 400, and no image is made.
    for change, message in (("RUN true", "RUN is not a valid change command"),
                            ("EXPOSE", "dockerfile parse error on line 1: EXPOSE requires at least one argument"),
                            ("EXPOSE 80/sctpx", "invalid proto: sctpx")):
        r = daemon.request("POST", f"/commit?container={cid}&repo=changed&tag=bad&changes={urllib.parse.quote(change)}")
        assert r.status == 400 and r.json()["message"] == message, r.body
        assert daemon.get("/images/changed:bad/json").status == 404
    remove(daemon, cid)
    assert daemon.request("DELETE", "/images/changed:v1").status == 204


def test_v1_booleans_are_one_of_the_specs_spellings(daemon):
    """The v1.0 booleans: 1/True/true or 0/False/false (and Go's other spellings of them, as
    the v1.0 daemon read them); anything else is a 400, on every v1.0 endpoint that takes one.
    The modern paths read them as dockerd does today."""
    stopped = create(daemon, Cmd=["true"])
    for method, path in (("GET", "/containers/json?all=yes"), ("GET", "/images/json?all=2"),
                         ("POST", f"/containers/{stopped}/attach?logs=on&stdout=1"),
                         ("POST", f"/containers/{stopped}/attach?logs=1&stdout=maybe"),
                         ("DELETE", f"/containers/{stopped}?v=no"),
                         ("POST", "/images/busybox/tag?repo=booltest&force=yes"),
                         ("GET", "/v1.0/containers/json?all=yes")):
        r = daemon.request(method, path)
        assert r.status == 400, (path, r.status, r.body)
        assert r.json()["message"].startswith("Bad parameter"), r.body
    assert inspect(daemon, stopped)["Id"].startswith(stopped)   # the refused remove removed nothing
    assert daemon.get("/images/booltest/json").status == 404
    ids = lambda path: [c["Id"][:12] for c in daemon.get(path).json()]
    for spelling in ("1", "True", "true", "t"):
        assert stopped in ids(f"/containers/json?all={spelling}")
    for spelling in ("0", "False", "false", ""):
        assert stopped not in ids(f"/containers/json?all={spelling}")
    assert stopped in ids("/v1.45/containers/json?all=yes")     # dockerd's BoolValue
    assert stopped not in ids("/v1.45/containers/json?all=no")
    r = daemon.request("DELETE", f"/containers/{stopped}?v=False")
    assert r.status == 204


def test_memory_limit_kills_a_hog(daemon):
    cid = create(daemon, Cmd=["dd", "if=/dev/zero", "of=/dev/null", "bs=300M", "count=1"], Memory=64 << 20)
    start(daemon, cid)
    assert wait(daemon, cid) == 137
    assert inspect(daemon, cid)["State"]["OOMKilled"] is True
    remove(daemon, cid)


def test_list_limit_since_before(daemon):
    ids = [create(daemon, Cmd=["true"]) for _ in range(3)]
    running = create(daemon, Cmd=["sleep", "100"])
    start(daemon, running)

    def listed(query: str) -> list[str]:
        r = daemon.get(f"/containers/json{query}")
        assert r.status == 200
        return [row["Id"] for row in r.json()]
    assert running in listed("") and not set(ids) & set(listed(""))
    assert set(ids) <= set(listed("?all=1"))
    assert listed("?limit=2") == [running, ids[2]]
    assert listed(f"?since={ids[0]}") == [running, ids[2], ids[1]]
    before = listed(f"?before={ids[2]}")
    assert ids[1] in before and ids[0] in before and ids[2] not in before and running not in before
    rows = {row["Id"]: row for row in daemon.get("/containers/json?all=1").json()}
    assert rows[running]["Status"].startswith("Up ") and rows[running]["Command"] == "sleep 100"
    assert rows[ids[0]]["Image"] == "busybox:latest"
    assert set(rows[running]) == {"Id", "Image", "Command", "Created", "Status"}
    assert daemon.get("/containers/json?limit=abc").status == 400
    for cid in ids + [running]:
        remove(daemon, cid)


def test_remove_rules_and_volumes(daemon):
    cid = create(daemon, Cmd=["sh", "-c", "echo kept > /data/x; sleep 100"], Volumes={"/data": {}})
    start(daemon, cid)
    r = daemon.request("DELETE", f"/containers/{cid}")
    assert r.status == 409 and "running" in r.json()["message"]
    source = inspect(daemon, cid, prefix="")["Volumes"]["/data"]
    assert source.startswith(daemon.data_root + "/volumes/")
    until(lambda: Path(source, "x").read_text() == "kept\n", what="the container's write to its volume")
    other = create(daemon, Cmd=["cat", "/data/x"], VolumesFrom=cid)
    start(daemon, other)
    assert wait(daemon, other) == 0
    assert daemon.request("POST", f"/containers/{other}/attach?logs=1&stdout=1").body == b"kept\n"
    assert daemon.request("POST", f"/containers/{cid}/kill").status == 204
    assert wait(daemon, cid) == 137
    assert daemon.request("DELETE", f"/containers/{other}").status == 204
    assert daemon.request("DELETE", f"/containers/{cid}?v=1").status == 204
    assert not os.path.exists(source)
    assert daemon.get(f"/containers/{cid}/json").status == 404
    assert daemon.request("DELETE", f"/containers/{cid}").status == 404


def test_process_settings(daemon):
    cid, code, out = run(daemon, ["sh", "-c", "id -u; id -g; hostname; pwd; echo $GREETING; "
                                              "cat /etc/resolv.conf; ls /proc/1/fd; ls /proc/self/fd"],
                         User="nobody", Hostname="myhost", WorkingDir="/tmp", Env=["GREETING=hi there"],
                         Dns=["10.0.0.53"])
    lines = out.decode().splitlines()
    assert code == 0, out
    assert lines[0] == "65534" and lines[1] == "65534" and lines[2] == "myhost" and lines[3] == "/tmp"
    assert lines[4] == "hi there" and lines[5] == "nameserver 10.0.0.53"
    # Nothing of the daemon's leaks in: pid 1 and its child hold only 0-2 (and ls its own dir fd).
    assert lines[6:9] == ["0", "1", "2"]
    remove(daemon, cid)
    cid, code, out = run(daemon, ["sh", "-c", "echo $(id -u):$(id -g)"], User="1234:5678")
    assert out == b"1234:5678\n"
    remove(daemon, cid)


def test_namespaces_and_mounts(daemon):
    cid, code, out = run(daemon, ["sh", "-c", "echo $$; ls /dev; cat /proc/mounts; ip link 2>/dev/null || "
                                              "cat /proc/net/dev; touch /sys/x 2>&1 || true"])
    text = out.decode()
    assert text.splitlines()[0] == "1"  # the command is pid 1 of its own pid namespace
    for dev in ("null", "zero", "random", "urandom", "tty", "pts", "shm"):
        assert dev in text
    assert "overlay / overlay" in text and "/sys sysfs ro" in text
    # On the default bridge: loopback and eth0, with Docker's MAC prefix.
    assert ": lo:" in text and ": eth0@" in text and "link/ether 02:42:" in text
    remove(daemon, cid)


def test_tty_container(daemon):
    cid, code, out = run(daemon, ["sh", "-c", "tty; echo to-stderr >&2"], Tty=True)
    assert code == 0
    assert out.startswith(b"/dev/pts/") and b"to-stderr" in out
    remove(daemon, cid)


def test_unknown_command_fails_start(daemon):
    cid = create(daemon, Cmd=["/no/such/binary"])
    r = daemon.request("POST", f"/containers/{cid}/start")
    assert r.status == 400 and "no/such/binary" in r.json()["message"]
    state = inspect(daemon, cid)["State"]
    assert state["Running"] is False and state["ExitCode"] == 127 and "no/such/binary" in state["Error"]
    remove(daemon, cid)


def test_docker_run_flow(daemon):
    """Spec 3.1: create (404 means pull first), start, attach with logs=1&stream=1."""
    r = daemon.request("POST", "/containers/create", body=json.dumps({"Image": "notpulledyet", "Cmd": ["true"]}).encode(),
                       headers={"Content-Type": "application/json"})
    assert r.status == 404
    cid = create(daemon, Cmd=["sh", "-c", "echo first; sleep 0.5; echo second"], AttachStdout=True)
    start(daemon, cid)
    a = Attached(daemon, cid, "logs=1&stream=1&stdout=1")
    assert a.read_all() == b"first\nsecond\n"
    a.close()
    assert wait(daemon, cid) == 0
    remove(daemon, cid)


def test_cgroup_limits_are_set(daemon):
    cid = create(daemon, Cmd=["sleep", "100"], Memory=64 << 20, MemorySwap=96 << 20, CpuShares=512)
    start(daemon, cid)
    full = inspect(daemon, cid)["Id"]
    root, parent = "/sys/fs/cgroup", daemon.cgroup_parent
    if os.path.exists(f"{root}/cgroup.controllers"):
        base = f"{root}/{parent}/{full}"
        assert open(f"{base}/memory.max").read().strip() == str(64 << 20)
        assert open(f"{base}/memory.swap.max").read().strip() == str(32 << 20)
        assert open(f"{base}/cpu.weight").read().strip() == str(1 + (510 * 9999) // 262142)
        memory = base
    else:
        memory = f"{root}/memory/{parent}/{full}"
        assert open(f"{memory}/memory.limit_in_bytes").read().strip() == str(64 << 20)
        memsw = f"{memory}/memory.memsw.limit_in_bytes"
        if os.path.exists(memsw):
            assert open(memsw).read().strip() == str(96 << 20)
        assert open(f"{root}/cpu/{parent}/{full}/cpu.shares").read().strip() == "512"
    pid = str(inspect(daemon, cid)["State"]["Pid"])
    assert pid in open(f"{memory}/cgroup.procs").read().split()
    remove(daemon, cid)
    assert not os.path.exists(memory)


def _caps(out: bytes) -> dict:
    return {line.split(":")[0]: int(line.split()[1], 16) for line in out.decode().splitlines()
            if line.startswith("Cap")}


def test_default_capabilities_as_docker(daemon):
    cid, code, out = run(daemon, ["grep", "^Cap", "/proc/self/status"])
    caps = _caps(out)
    assert caps["CapEff"] == caps["CapPrm"] == caps["CapBnd"] == 0xA80425FB  # Docker's 14
    assert caps["CapInh"] == 0 and caps.get("CapAmb", 0) == 0
    remove(daemon, cid)
    cid, code, out = run(daemon, ["grep", "^Cap", "/proc/self/status"], User="nobody")
    caps = _caps(out)
    assert caps["CapEff"] == 0 and caps["CapBnd"] == 0xA80425FB
    remove(daemon, cid)
    # Without CAP_SYS_ADMIN, mount is refused inside the container: it fails, says why,
    # and /tmp is no tmpfs after it.
    cid, code, out = run(daemon, ["sh", "-c", "mount -t tmpfs x /tmp; code=$?; grep ' /tmp ' /proc/mounts; "
                                              "exit $code"])
    assert code != 0, out
    assert b"denied" in out.lower() or b"not permitted" in out.lower(), out
    assert b" /tmp tmpfs " not in out, out
    remove(daemon, cid)


def test_masked_and_read_only_paths(daemon):
    script = ("for f in /proc/interrupts /proc/kcore /proc/timer_list /proc/keys; do "
              "  [ -e $f ] && echo \"$f $(wc -c < $f)\"; done; "
              "echo \"firmware $(ls /sys/firmware | wc -l)\"; "
              "for d in /proc/sys/vm /proc/sys/kernel /proc/sys/net /proc/sys; do "
              "  [ -d $d ] && { { echo 1 > $d/dockyard-probe; } 2>/dev/null && echo \"wrote $d\" || echo \"refused $d\"; }; done; "
              "grep ' /proc/sys ' /proc/mounts; ls -l /dev/null")
    cid, code, out = run(daemon, ["sh", "-c", script])
    assert " /proc/sys proc ro," in out.decode(), out
    lines = out.decode().splitlines()
    masked = [line for line in lines if line.startswith("/proc/")]
    assert masked and all(line.endswith(" 0") for line in masked), out
    assert "firmware 0" in lines
    assert any(line.startswith("refused") for line in lines) and not any(line.startswith("wrote") for line in lines), out
    null = next(line for line in lines if line.endswith("/dev/null"))
    assert null.startswith("crw-rw-rw-") and "1,   3" in null
    remove(daemon, cid)


def _create_raw(daemon, body: bytes):
    return daemon.request("POST", "/v1.45/containers/create", body=body,
                          headers={"Content-Type": "application/json"})


def test_create_answers_wrong_types_with_a_400_never_a_500(daemon):
    """Every setting of the spec (create_fields, written from the YAML), with each value of
    the wrong JSON type: a 400 naming the setting, never a 201 (dropped) or a 500."""
    wrong = []
    for path, kind in create_fields.FIELDS:
        for value in create_fields.wrong_values(kind):
            r = _create_raw(daemon, json.dumps(create_fields.body_with(path, value)).encode())
            message = r.json().get("message", "") if r.status == 400 else r.body
            if r.status != 400 or not all(name in message for name in create_fields.names(path)):
                wrong.append((path, value, r.status, message))
            if r.status == 201:
                remove(daemon, r.json()["Id"])
    assert not wrong, f"{len(wrong)} wrong answers, e.g. {wrong[:10]}"
    # HostConfig itself: 400 for any value that is not an object (null is none).
    for value in create_fields.wrong_values("object"):
        r = _create_raw(daemon, json.dumps({"Image": "busybox", "Cmd": ["true"], "HostConfig": value}).encode())
        assert r.status == 400 and "host" in r.json()["message"].lower(), (value, r.status, r.body)


def test_create_refuses_json_nested_too_deeply(daemon):
    # Far past what Python's json can parse (a RecursionError).
    r = _create_raw(daemon, b"[" * 100_000)
    assert r.status == 400 and "nested too deeply" in r.json()["message"], (r.status, r.body[:200])
    # Parseable, but deeper than the wire and the record store could carry, wherever it is.
    deep = "[" * 900 + "]" * 900
    for body in (deep, f'{{"Image": "busybox", "Cmd": ["true"], "Unknown": {deep}}}',
                 f'{{"Image": "busybox", "Cmd": ["true"], "Volumes": {{"/v": {{"a": {deep}}}}}}}',
                 '{"Image": "busybox", "Cmd": ["true"], "Labels": ' + '{"a": ' * 600 + "{}" + "}" * 600 + "}"):
        r = _create_raw(daemon, body.encode())
        assert r.status == 400 and "nested too deeply" in r.json()["message"], (body[:60], r.status, r.body[:200])
    # Nested within the limit: taken (an unknown key is ignored; a Volumes value may be any object).
    nested = '{"a": ' * 90 + "{}" + "}" * 90
    r = _create_raw(daemon, f'{{"Image": "busybox", "Cmd": ["true"], "Unknown": {nested}, '
                            f'"Volumes": {{"/v": {nested}}}}}'.encode())
    assert r.status == 201, r.body
    cid = r.json()["Id"]
    assert "/v" in inspect(daemon, cid)["Config"]["Volumes"]
    remove(daemon, cid)
