"""The rest of Docker's container and network events, each with Docker's attributes, in
order and once: exec_die as an exec ends (nobody inspecting it; across a restart of the
supervisor), network connect and disconnect at a start and an exit, die's execDuration,
attach and detach, resize, top, export, commit, archive-path and extract-to-dir."""

from __future__ import annotations

import io
import json
import tarfile
import time
import urllib.parse

import docker

from services.common import timefmt

from ..polling import until
from .containers import Attached, ensure_busybox
from .containers import docker as docker_cli
from .test_attach_streams import CTRL_P, CTRL_Q, ExecStream

BUSYBOX = "busybox:latest"


def _ns_text(ns: int) -> str:
    return f"{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}"


def past(daemon, since_ns: int, **filters) -> list[dict]:
    """The events recorded from `since_ns` until now."""
    query = f"since={_ns_text(since_ns)}&until={_ns_text(time.time_ns())}"
    if filters:
        query += "&filters=" + urllib.parse.quote(json.dumps({k: [v] for k, v in filters.items()}))
    r = daemon.get(f"/v1.45/events?{query}", timeout=30)
    assert r.status == 200, r.body
    return [json.loads(line) for line in r.body.decode().splitlines() if line.strip()]


def of_container(events: list[dict], cid: str) -> list[tuple[str, str]]:
    """(Type, Action) of the container's own events and of the network events about it."""
    return [(e["Type"], e["Action"].split(":")[0]) for e in events
            if e["Actor"]["ID"] == cid or e["Actor"]["Attributes"].get("container") == cid]


def actions(events: list[dict], cid: str) -> list[str]:
    """The Actions of the container's own events (exec_create: ... as exec_create)."""
    return [a for t, a in of_container(events, cid) if t == "container"]


def exec_dies(events: list[dict], exec_id: str) -> list[dict]:
    return [e for e in events if e["Action"] == "exec_die" and e["Actor"]["Attributes"].get("execID") == exec_id]


def seconds_between(started: str, finished: str) -> int:
    return int((timefmt.parse(finished) - timefmt.parse(started)).total_seconds())


def test_exec_die_comes_as_a_detached_exec_ends_with_nobody_inspecting_it(daemon, client):
    since = time.time_ns()
    ctr = client.containers.run(BUSYBOX, ["tail", "-f", "/dev/null"], detach=True, labels={"evm": "exec"})
    try:
        exec_id = client.api.exec_create(ctr.id, ["sh", "-c", "exit 7"])["Id"]
        client.api.exec_start(exec_id, detach=True)
        died = until(lambda: exec_dies(past(daemon, since), exec_id), 20, "exec_die of the detached exec")
        assert len(died) == 1
        e = died[0]
        assert e["Type"] == "container" and e["Actor"]["ID"] == ctr.id and e["id"] == ctr.id
        attrs = e["Actor"]["Attributes"]
        assert attrs["execID"] == exec_id and attrs["exitCode"] == "7"
        assert attrs["name"] == ctr.name and attrs["image"] == BUSYBOX and attrs["evm"] == "exec"
        assert actions(past(daemon, since), ctr.id) == [
            "create", "start", "exec_create", "exec_start", "exec_die"]
        # Its end is in its record already: an inspect shows it and emits nothing more.
        assert client.api.exec_inspect(exec_id)["ExitCode"] == 7
        assert len(exec_dies(past(daemon, since), exec_id)) == 1
    finally:
        ctr.remove(force=True)


def test_exec_die_of_an_exec_that_ends_after_a_restart_of_the_supervisor(fresh_daemon):
    daemon = fresh_daemon.start()
    ensure_busybox(daemon)
    client = docker.DockerClient(base_url=daemon.unix_url, version="1.45")
    since = time.time_ns()
    ctr = client.containers.run(BUSYBOX, ["tail", "-f", "/dev/null"], detach=True)
    assert ctr.exec_run(["mkfifo", "/tmp/go"]).exit_code == 0
    waiting = client.api.exec_create(ctr.id, ["sh", "-c", "read x < /tmp/go; exit 5"])["Id"]
    client.api.exec_start(waiting, detach=True)
    until(lambda: client.api.exec_inspect(waiting)["Pid"] > 0, 20, "the exec to run")
    old = daemon.pid("supervisor")
    daemon.supervisorctl("restart", "supervisor")
    daemon.wait_new_pid("supervisor", old)
    daemon.wait_ready()
    assert exec_dies(past(daemon, since), waiting) == []   # it still waits
    assert ctr.exec_run(["sh", "-c", "echo go > /tmp/go"]).exit_code == 0
    died = until(lambda: exec_dies(past(daemon, since), waiting), 20, "exec_die after the restart")
    assert len(died) == 1 and died[0]["Actor"]["Attributes"]["exitCode"] == "5"
    assert client.api.exec_inspect(waiting)["ExitCode"] == 5
    ctr.remove(force=True)
    assert len(exec_dies(past(daemon, since), waiting)) == 1
    client.close()


def test_network_connect_at_a_start_and_disconnect_at_the_exit_once_each(daemon, client):
    front, back = client.networks.create("evm-front"), client.networks.create("evm-back")
    since = time.time_ns()
    ctr = client.containers.create(BUSYBOX, ["tail", "-f", "/dev/null"], network="evm-front")
    try:
        ctr.start()
        back.connect(ctr)   # while it runs: connected once, here
        ctr.stop(timeout=0)
        events = past(daemon, since)
        assert [te for te in of_container(events, ctr.id) if te[1] != "kill"] == [
            ("container", "create"), ("network", "connect"), ("container", "start"), ("network", "connect"),
            ("network", "disconnect"), ("network", "disconnect"), ("container", "die"), ("container", "stop")]
        nets = [e for e in events if e["Type"] == "network" and e["Actor"]["Attributes"]["container"] == ctr.id]
        assert [(e["Action"], e["Actor"]["ID"]) for e in nets] == [
            ("connect", front.id), ("connect", back.id), ("disconnect", front.id), ("disconnect", back.id)]
        assert nets[0]["Actor"]["Attributes"] == {"container": ctr.id, "name": "evm-front", "type": "bridge"}
        assert nets[3]["Actor"]["Attributes"] == {"container": ctr.id, "name": "evm-back", "type": "bridge"}
        assert all("status" not in e and e["scope"] == "local" for e in nets)
        # The die: its exit code, and the whole seconds it ran (as its record says).
        die = next(e for e in events if e["Action"] == "die" and e["Actor"]["ID"] == ctr.id)
        state = client.api.inspect_container(ctr.id)["State"]
        assert die["Actor"]["Attributes"]["exitCode"] == str(state["ExitCode"]) == "137"
        assert die["Actor"]["Attributes"]["execDuration"] == str(seconds_between(state["StartedAt"],
                                                                                 state["FinishedAt"]))
        # Started again: on both networks again, each once.
        since = time.time_ns()
        ctr.start()
        assert of_container(past(daemon, since), ctr.id) == [
            ("network", "connect"), ("network", "connect"), ("container", "start")]
    finally:
        ctr.remove(force=True)
        front.remove()
        back.remove()


def test_a_container_of_another_ones_network_has_no_network_events(daemon, client):
    host = client.containers.run(BUSYBOX, ["tail", "-f", "/dev/null"], detach=True)
    since = time.time_ns()
    guest = client.containers.run(BUSYBOX, ["true"], detach=True, network_mode=f"container:{host.id}")
    try:
        guest.wait()
        died = until(lambda: ("container", "die") in of_container(past(daemon, since), guest.id), 20, "its die")
        assert died and [t for t, _ in of_container(past(daemon, since), guest.id)] == ["container"] * 3
        none = client.containers.run(BUSYBOX, ["true"], detach=True, network_mode="none")
        none.wait()
        until(lambda: ("container", "die") in of_container(past(daemon, since), none.id), 20, "its die")
        nets = [e for e in past(daemon, since, type="network") if e["Actor"]["Attributes"]["container"] == none.id]
        assert [(e["Action"], e["Actor"]["Attributes"]["name"], e["Actor"]["Attributes"]["type"]) for e in nets] == [
            ("connect", "none", "null"), ("disconnect", "none", "null")]
        none.remove()
    finally:
        guest.remove(force=True)
        host.remove(force=True)


def _attach(daemon, cid: str, query: str = "stream=1&stdin=1&stdout=1") -> Attached:
    a = Attached(daemon, cid, query, upgrade=True, prefix="/v1.45")
    assert a.status == 101
    return a


def test_attach_then_detach_only_by_the_detach_keys(daemon, client):
    since = time.time_ns()
    ctr = client.containers.run(BUSYBOX, ["cat"], detach=True, tty=True, stdin_open=True)
    try:
        a = _attach(daemon, ctr.id)
        a.send(b"hi\n")
        a.read_until(b"hi\r\nhi\r\n")
        a.send(CTRL_P + CTRL_Q)
        a.read_all(timeout=10)   # the attach ends: its detach is recorded by then
        a.close()
        assert actions(past(daemon, since), ctr.id) == ["create", "start", "attach", "detach"]
        # As dockerd: the end of the client's stdin (it closes) ends an attach with a tty,
        # and the end of the output (the container's exit) any attach, with no detach.
        since = time.time_ns()
        b = _attach(daemon, ctr.id)
        b.send(b"again\n")
        b.read_until(b"again\r\nagain\r\n")
        b.close_stdin()
        b.read_all(timeout=10)
        b.close()
        c = _attach(daemon, ctr.id, "stream=1&stdout=1")
        ctr.kill()
        c.read_all(timeout=10)
        c.close()
        until(lambda: "die" in actions(past(daemon, since), ctr.id), 20, "its die")
        assert actions(past(daemon, since), ctr.id) == ["attach", "attach", "kill", "die"]
        attrs = next(e for e in past(daemon, since) if e["Action"] == "attach")["Actor"]["Attributes"]
        assert attrs["name"] == ctr.name and attrs["image"] == BUSYBOX
    finally:
        ctr.remove(force=True)


def test_the_cli_run_attaches_before_the_start(daemon, client):
    since = time.time_ns()
    made = docker_cli(daemon, "run", "--name", "evm-run", BUSYBOX, "sh", "-c", "exit 4")
    assert made.returncode == 4, made.stderr
    cid = client.containers.get("evm-run").id
    try:
        acts = actions(past(daemon, since), cid)
        assert acts == ["create", "attach", "start", "die"]
    finally:
        client.api.remove_container(cid)


def _tar(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_resize_top_export_commit_and_copies_each_say_so_once(daemon, client):
    since = time.time_ns()
    ctr = client.containers.run(BUSYBOX, ["cat"], detach=True, tty=True, stdin_open=True, labels={"evm": "ops"})
    image = None
    try:
        client.api.resize(ctr.id, 40, 120)
        assert client.api.top(ctr.id)["Processes"]
        assert sum(len(chunk) for chunk in ctr.export()) > 0
        image = ctr.commit(repository="evm-commit", tag="v1", message="a note")
        bits, _ = ctr.get_archive("/etc/hostname")
        assert b"".join(bits)
        assert client.api.put_archive(ctr.id, "/tmp", _tar("evm.txt", b"in\n"))
        r = daemon.request("HEAD", f"/v1.45/containers/{ctr.id}/archive?path=/etc/hostname")
        assert r.status == 200   # a stat only: no event, as dockerd
        events = past(daemon, since)
        assert actions(events, ctr.id) == [
            "create", "start", "resize", "top", "export", "commit", "archive-path", "extract-to-dir"]
        by_action = {e["Action"]: e for e in events if e["Actor"]["ID"] == ctr.id}
        for e in by_action.values():
            attrs = e["Actor"]["Attributes"]
            assert attrs["name"] == ctr.name and attrs["image"] == BUSYBOX and attrs["evm"] == "ops"
            assert e["status"] == e["Action"] and e["from"] == BUSYBOX
        assert by_action["resize"]["Actor"]["Attributes"]["height"] == "40"
        assert by_action["resize"]["Actor"]["Attributes"]["width"] == "120"
        commit = by_action["commit"]["Actor"]["Attributes"]
        assert (commit["comment"], commit["imageID"], commit["imageRef"]) == ("a note", image.id, "evm-commit:v1")
        tags = [e for e in events if e["Type"] == "image" and e["Action"] == "tag"]
        assert [(e["Actor"]["ID"], e["Actor"]["Attributes"]["name"]) for e in tags] == [(image.id, "evm-commit:v1")]
        assert events.index(tags[0]) < events.index(by_action["commit"])   # tagged, then the commit said
    finally:
        ctr.remove(force=True)
        if image is not None:
            client.images.remove(image.id, force=True)


def test_a_commit_without_a_name_has_an_empty_image_ref(daemon, client):
    since = time.time_ns()
    ctr = client.containers.create(BUSYBOX, ["true"])
    image_id = None
    try:
        image_id = client.api.commit(ctr.id)["Id"]
        commits = [e for e in past(daemon, since, event="commit")]
        assert len(commits) == 1
        assert commits[0]["Actor"]["Attributes"]["imageRef"] == ""
        assert commits[0]["Actor"]["Attributes"]["comment"] == ""
        assert commits[0]["Actor"]["Attributes"]["imageID"] == image_id
        assert past(daemon, since, type="image") == []
    finally:
        ctr.remove()
        if image_id is not None:
            client.images.remove(image_id)


def test_an_exec_detached_by_its_keys_says_exec_detach(daemon, client):
    since = time.time_ns()
    ctr = client.containers.run(BUSYBOX, ["tail", "-f", "/dev/null"], detach=True)
    try:
        exec_id = client.api.exec_create(ctr.id, ["cat"], stdin=True, tty=True)["Id"]
        s = ExecStream(daemon, exec_id, tty=True)
        s.send(b"x\n")
        s.read_until(b"x\r\nx\r\n")
        s.send(CTRL_P + CTRL_Q)
        s.read_all(timeout=10)
        s.close()
        detached = [e for e in past(daemon, since) if e["Action"] == "exec_detach"]
        assert len(detached) == 1 and detached[0]["Actor"]["Attributes"]["execID"] == exec_id
        assert exec_dies(past(daemon, since), exec_id) == []   # it runs on
    finally:
        ctr.remove(force=True)
