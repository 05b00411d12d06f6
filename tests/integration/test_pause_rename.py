"""Pause, unpause and rename on the session's daemon, with docker-py, as Docker does them:
a paused container's processes are frozen (its output stops, an exec into it is a 409)
and go on once unpaused; kill, stop and remove -f of a paused container work; a rename
is seen by inspect, by a lookup and by its peers' DNS, with Docker's 400s and 409s."""

from __future__ import annotations

import docker
import pytest

from ..polling import until
from .containers import docker as docker_cli

BUSYBOX = "busybox:latest"
# Counts to /tmp/t and to its log, a hundred times a second. /tmp/t is replaced by a
# rename, never truncated in place, so a reader never sees it empty between two counts.
COUNTER = ["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tmp/n; mv /tmp/n /tmp/t; echo $i; usleep 10000; done"]


def _lines(ctr) -> int:
    return len(ctr.logs(stdout=True, stderr=False).splitlines())


def _state(ctr) -> dict:
    ctr.reload()
    return ctr.attrs["State"]


@pytest.fixture
def counting(client):
    made = []

    def run(**kw):
        ctr = client.containers.run(BUSYBOX, COUNTER, detach=True, **kw)
        made.append(ctr)
        until(lambda: _lines(ctr) > 3, what="the counter to count")
        return ctr
    yield run
    for ctr in made:
        try:
            ctr.remove(force=True)
        except docker.errors.NotFound:
            pass


@pytest.mark.parametrize("runtime", ["builtin", "runc"])
def test_pause_freezes_and_unpause_resumes(client, counting, runtime):
    ctr = counting(runtime=runtime)
    witness = counting()   # a clock that keeps counting: a wait for time to pass, no fixed sleep
    ctr.pause()
    state = _state(ctr)
    assert (state["Status"], state["Running"], state["Paused"]) == ("paused", True, True)
    frozen = _lines(ctr)
    start = _lines(witness)
    until(lambda: _lines(witness) >= start + 30, what="the witness to count 30 more")
    assert _lines(ctr) == frozen, "a paused container went on writing"
    # An exec into a paused container is a 409, as Docker's.
    with pytest.raises(docker.errors.APIError) as err:
        ctr.exec_run(["cat", "/tmp/t"])
    assert err.value.status_code == 409 and "is paused" in str(err.value)
    # Listed (running or not asked), "(Paused)" in its status, and under status=paused.
    assert ctr.id in [c.id for c in client.containers.list()]
    assert ctr.id in [c.id for c in client.containers.list(filters={"status": "paused"})]
    row = [r for r in client.api.containers() if r["Id"] == ctr.id][0]
    assert row["State"] == "paused" and row["Status"].startswith("Up ") and row["Status"].endswith("(Paused)")
    ctr.unpause()
    state = _state(ctr)
    assert (state["Status"], state["Running"], state["Paused"]) == ("running", True, False)
    until(lambda: _lines(ctr) > frozen + 10, what="the counter to count again")
    first = int(ctr.exec_run(["cat", "/tmp/t"]).output)
    until(lambda: int(ctr.exec_run(["cat", "/tmp/t"]).output) > first, what="/tmp/t to change again")


def test_pause_and_unpause_refusals_are_dockers(client, counting):
    ctr = counting()
    with pytest.raises(docker.errors.APIError) as err:
        ctr.unpause()
    assert err.value.status_code == 409 and "is not paused" in err.value.explanation
    ctr.pause()
    with pytest.raises(docker.errors.APIError) as err:
        ctr.pause()
    assert err.value.status_code == 409 and "is already paused" in err.value.explanation
    with pytest.raises(docker.errors.APIError) as err:
        ctr.remove()
    assert err.value.status_code == 409 and "cannot remove a paused container" in err.value.explanation
    created = client.containers.create(BUSYBOX, ["true"])
    try:
        with pytest.raises(docker.errors.APIError) as err:
            created.pause()
        assert err.value.status_code == 409 and "is not running" in err.value.explanation
    finally:
        created.remove()
    with pytest.raises(docker.errors.NotFound):
        client.api.pause("no-such-container-here")


@pytest.mark.parametrize("runtime", ["builtin", "runc"])
def test_kill_of_a_paused_container(client, counting, runtime):
    ctr = counting(runtime=runtime)
    ctr.pause()
    ctr.kill()
    assert ctr.wait(timeout=20)["StatusCode"] == 137
    state = _state(ctr)
    assert (state["Status"], state["Running"], state["Paused"]) == ("exited", False, False)


def test_stop_restart_and_force_remove_of_a_paused_container(client, counting):
    ctr = counting()
    ctr.pause()
    ctr.stop(timeout=1)   # sh as pid 1 ignores SIGTERM: the SIGKILL after the timeout ends it
    state = _state(ctr)
    assert (state["Status"], state["Running"], state["Paused"]) == ("exited", False, False)
    ctr.start()
    ctr.pause()
    ctr.restart(timeout=1)
    state = _state(ctr)
    assert (state["Status"], state["Running"], state["Paused"]) == ("running", True, False)
    ctr.pause()
    ctr.remove(force=True)
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(ctr.id)


def test_rename(client):
    ctr = client.containers.create(BUSYBOX, ["true"], name="pr-old")
    other = client.containers.create(BUSYBOX, ["true"], name="pr-taken")
    try:
        ctr.rename("pr-new")
        assert client.containers.get("pr-new").id == ctr.id
        ctr.reload()
        assert ctr.attrs["Name"] == "/pr-new" and ctr.name == "pr-new"
        with pytest.raises(docker.errors.NotFound):
            client.containers.get("pr-old")
        assert [c.name for c in client.containers.list(all=True, filters={"name": "pr-new"})] == ["pr-new"]
        # The old name is free again.
        again = client.containers.create(BUSYBOX, ["true"], name="pr-old")
        again.remove()
        with pytest.raises(docker.errors.APIError) as err:
            ctr.rename("pr-taken")
        assert err.value.status_code == 409 and 'The container name "/pr-taken" is already in use by container ' \
            f'"{other.id}"' in err.value.explanation
        with pytest.raises(docker.errors.APIError) as err:
            ctr.rename("pr-new")
        assert err.value.status_code == 400
        assert err.value.explanation == "Renaming a container with the same name as its current name"
        with pytest.raises(docker.errors.APIError) as err:
            ctr.rename("bad name!")
        assert err.value.status_code == 400 and "Invalid container name" in err.value.explanation
        with pytest.raises(docker.errors.APIError) as err:
            client.api.rename(ctr.id, "")
        assert err.value.status_code == 400
        with pytest.raises(docker.errors.NotFound):
            client.api.rename("no-such-container-here", "x1")
        ctr.reload()
        assert ctr.attrs["Name"] == "/pr-new"
    finally:
        ctr.remove()
        other.remove()


def test_a_renamed_container_is_found_by_its_peers_under_its_new_name(client):
    net = client.networks.create("pr-net")
    made = []
    try:
        target = client.containers.run(BUSYBOX, ["sleep", "300"], name="pr-dns-a", network="pr-net", detach=True)
        made.append(target)
        peer = client.containers.run(BUSYBOX, ["sleep", "300"], name="pr-dns-b", network="pr-net", detach=True)
        made.append(peer)
        until(lambda: peer.exec_run(["nslookup", "pr-dns-a"]).exit_code == 0, what="the old name to resolve")
        target.rename("pr-dns-z")
        until(lambda: peer.exec_run(["nslookup", "pr-dns-z"]).exit_code == 0, what="the new name to resolve")
        until(lambda: peer.exec_run(["nslookup", "pr-dns-a"]).exit_code != 0, what="the old name to go")
    finally:
        for ctr in made:
            ctr.remove(force=True)
        net.remove()


def test_the_docker_cli_pauses_and_unpauses(client, daemon, counting):
    ctr = counting()
    out = docker_cli(daemon, "pause", ctr.id[:12])
    assert out.returncode == 0 and out.stdout.strip() == ctr.id[:12].encode(), out
    listed = docker_cli(daemon, "ps", "--filter", f"id={ctr.id}", "--format", "{{.Status}}")
    assert listed.returncode == 0 and listed.stdout.strip().endswith(b"(Paused)"), listed
    frozen = _lines(ctr)
    witness = counting()
    start = _lines(witness)
    until(lambda: _lines(witness) >= start + 30, what="the witness to count 30 more")
    assert _lines(ctr) == frozen, "a paused container went on writing"
    again = docker_cli(daemon, "pause", ctr.id[:12])
    assert again.returncode != 0 and b"is already paused" in again.stderr, again
    out = docker_cli(daemon, "unpause", ctr.id[:12])
    assert out.returncode == 0, out
    until(lambda: _lines(ctr) > frozen + 10, what="the counter to count again")
    listed = docker_cli(daemon, "ps", "--filter", f"id={ctr.id}", "--format", "{{.Status}}")
    assert listed.stdout.strip().startswith(b"Up ") and b"Paused" not in listed.stdout, listed
